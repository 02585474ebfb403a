// DST: a skipped local time fires once, at the first instant after the jump (once per gap,
// however many matching times the gap swallowed); a repeated local time fires once, at its
// first occurrence (the second pass of a repeated hour fires nothing).
import { CronPattern } from 'croner';
import { describe, expect, it } from 'vitest';
import { compileCron, describeOccurrence } from './cron.js';

const iso = (s: string) => new Date(s);
const runs = (expression: string, timezone: string, after: string, count: number) =>
  compileCron({ expression, timezone })
    .next(iso(after), count)
    .map((d) => d.toISOString().replace('.000Z', 'Z'));
const details = (expression: string, timezone: string, after: string, count: number) => {
  const c = compileCron({ expression, timezone });
  return c.next(iso(after), count).map((d) => {
    const o = describeOccurrence(c, d);
    return `${o.at.replace('.000Z', 'Z')} ${o.local}${o.dst ? ` ${o.dst}` : ''}`;
  });
};

describe('Europe/Berlin 2027 (CET/CEST, jumps at 01:00Z)', () => {
  const tz = 'Europe/Berlin';

  it('gap: 02:30, 02:00 and every quarter of 02:xx fire once, at 03:00 local', () => {
    expect(runs('30 2 * * *', tz, '2027-03-27T12:00:00Z', 2)).toEqual(['2027-03-28T01:00:00Z', '2027-03-29T00:30:00Z']);
    expect(runs('0 2 * * *', tz, '2027-03-27T12:00:00Z', 2)).toEqual(['2027-03-28T01:00:00Z', '2027-03-29T00:00:00Z']);
    expect(runs('*/15 2 * * *', tz, '2027-03-27T12:00:00Z', 3)).toEqual([
      '2027-03-28T01:00:00Z',
      '2027-03-29T00:00:00Z',
      '2027-03-29T00:15:00Z',
    ]);
    expect(runs('59 2 * * *', tz, '2027-03-27T12:00:00Z', 1)).toEqual(['2027-03-28T01:00:00Z']);
    expect(runs('0 30 2 * * *', tz, '2027-03-27T12:00:00Z', 1)).toEqual(['2027-03-28T01:00:00Z']);
  });

  it('gap: a skipped time and the real 03:00 are one occurrence, not two', () => {
    expect(runs('0 2,3 * * *', tz, '2027-03-27T12:00:00Z', 3)).toEqual([
      '2027-03-28T01:00:00Z',
      '2027-03-29T00:00:00Z',
      '2027-03-29T01:00:00Z',
    ]);
  });

  it('gap: interval patterns continue from 03:00 local', () => {
    expect(runs('*/30 * * * *', tz, '2027-03-28T00:00:00Z', 4)).toEqual([
      '2027-03-28T00:30:00Z', // 01:30 CET
      '2027-03-28T01:00:00Z', // 03:00 CEST (02:00 and 02:30 skipped, fired once here)
      '2027-03-28T01:30:00Z',
      '2027-03-28T02:00:00Z',
    ]);
    expect(runs('* * * * *', tz, '2027-03-28T00:58:00Z', 3)).toEqual(['2027-03-28T00:59:00Z', '2027-03-28T01:00:00Z', '2027-03-28T01:01:00Z']);
    expect(runs('* * * * * *', tz, '2027-03-28T00:59:58Z', 3)).toEqual(['2027-03-28T00:59:59Z', '2027-03-28T01:00:00Z', '2027-03-28T01:00:01Z']);
  });

  it('overlap: 02:30 fires at its first occurrence only', () => {
    expect(runs('30 2 * * *', tz, '2027-10-30T12:00:00Z', 2)).toEqual(['2027-10-31T00:30:00Z', '2027-11-01T01:30:00Z']);
    expect(runs('0 30 2 * * *', tz, '2027-10-30T12:00:00Z', 2)).toEqual(['2027-10-31T00:30:00Z', '2027-11-01T01:30:00Z']);
  });

  it('overlap: */30 fires 02:00 and 02:30 once each, not again in the second pass', () => {
    expect(runs('*/30 * * * *', tz, '2027-10-30T23:30:00Z', 4)).toEqual([
      '2027-10-31T00:00:00Z', // 02:00 CEST
      '2027-10-31T00:30:00Z', // 02:30 CEST
      '2027-10-31T02:00:00Z', // 03:00 CET; 02:00 and 02:30 CET (01:00Z, 01:30Z) do not fire
      '2027-10-31T02:30:00Z',
    ]);
    expect(runs('0 * * * *', tz, '2027-10-30T23:30:00Z', 2)).toEqual(['2027-10-31T00:00:00Z', '2027-10-31T02:00:00Z']);
  });

  it('overlap: every minute and every second produce nothing in the second pass', () => {
    expect(runs('* * * * *', tz, '2027-10-31T00:58:00Z', 3)).toEqual(['2027-10-31T00:59:00Z', '2027-10-31T02:00:00Z', '2027-10-31T02:01:00Z']);
    expect(runs('* * * * * *', tz, '2027-10-31T00:59:58Z', 3)).toEqual(['2027-10-31T00:59:59Z', '2027-10-31T02:00:00Z', '2027-10-31T02:00:01Z']);
    const inHour = compileCron({ expression: '* * * * * *', timezone: tz }).next(iso('2027-10-30T23:59:59Z'), 7200);
    expect(inHour[3599]!.toISOString()).toBe('2027-10-31T00:59:59.000Z');
    expect(inHour[3600]!.toISOString()).toBe('2027-10-31T02:00:00.000Z');
    expect(inHour.filter((d) => d.getTime() >= Date.parse('2027-10-31T01:00:00Z') && d.getTime() < Date.parse('2027-10-31T02:00:00Z'))).toEqual([]);
  });

  it('overlap: asked from inside the second pass, the next occurrence is after it', () => {
    expect(runs('*/30 * * * *', tz, '2027-10-31T01:10:00Z', 1)).toEqual(['2027-10-31T02:00:00Z']);
    expect(runs('30 2 * * *', tz, '2027-10-31T01:10:00Z', 1)).toEqual(['2027-11-01T01:30:00Z']);
    expect(runs('* * * * * *', tz, '2027-10-31T01:00:00Z', 1)).toEqual(['2027-10-31T02:00:00Z']);
    expect(runs('0 3 * * *', tz, '2027-10-31T01:59:59Z', 1)).toEqual(['2027-10-31T02:00:00Z']);
  });

  it('describeOccurrence marks gap and overlap occurrences', () => {
    expect(details('30 2 * * *', tz, '2027-03-27T12:00:00Z', 2)).toEqual([
      '2027-03-28T01:00:00Z 2027-03-28T03:00:00 gap',
      '2027-03-29T00:30:00Z 2027-03-29T02:30:00',
    ]);
    // 03:00 itself is a real time, fired normally, not because of the gap
    expect(details('0 3 * * *', tz, '2027-03-27T12:00:00Z', 1)).toEqual(['2027-03-28T01:00:00Z 2027-03-28T03:00:00']);
    expect(details('*/30 * * * *', tz, '2027-10-30T23:30:00Z', 4)).toEqual([
      '2027-10-31T00:00:00Z 2027-10-31T02:00:00 overlap',
      '2027-10-31T00:30:00Z 2027-10-31T02:30:00 overlap',
      '2027-10-31T02:00:00Z 2027-10-31T03:00:00',
      '2027-10-31T02:30:00Z 2027-10-31T03:30:00',
    ]);
  });
});

describe('America/New_York 2027 (jumps at 02:00 local)', () => {
  const tz = 'America/New_York';

  it('gap on 2027-03-14', () => {
    expect(runs('30 2 * * *', tz, '2027-03-13T12:00:00Z', 2)).toEqual(['2027-03-14T07:00:00Z', '2027-03-15T06:30:00Z']);
    expect(runs('0 2 * * *', tz, '2027-03-13T12:00:00Z', 2)).toEqual(['2027-03-14T07:00:00Z', '2027-03-15T06:00:00Z']);
    expect(runs('*/10 2 * * *', tz, '2027-03-13T12:00:00Z', 2)).toEqual(['2027-03-14T07:00:00Z', '2027-03-15T06:00:00Z']);
    expect(details('0 2 * * SUN', tz, '2027-03-13T12:00:00Z', 2)).toEqual([
      '2027-03-14T07:00:00Z 2027-03-14T03:00:00 gap',
      '2027-03-21T06:00:00Z 2027-03-21T02:00:00',
    ]);
  });

  it('overlap on 2027-11-07', () => {
    expect(runs('30 1 * * *', tz, '2027-11-06T12:00:00Z', 2)).toEqual(['2027-11-07T05:30:00Z', '2027-11-08T06:30:00Z']);
    expect(runs('*/20 1 * * *', tz, '2027-11-06T12:00:00Z', 4)).toEqual([
      '2027-11-07T05:00:00Z',
      '2027-11-07T05:20:00Z',
      '2027-11-07T05:40:00Z',
      '2027-11-08T06:00:00Z',
    ]);
    expect(details('30 1 * * *', tz, '2027-11-06T12:00:00Z', 1)).toEqual(['2027-11-07T05:30:00Z 2027-11-07T01:30:00 overlap']);
  });
});

describe('Australia/Lord_Howe 2027 (30-minute shift)', () => {
  const tz = 'Australia/Lord_Howe';

  it('gap 02:00-02:30 on 2027-10-03', () => {
    expect(details('0 2 * * *', tz, '2027-10-02T00:00:00Z', 2)).toEqual([
      '2027-10-02T15:30:00Z 2027-10-03T02:30:00 gap',
      '2027-10-03T15:00:00Z 2027-10-04T02:00:00',
    ]);
    expect(runs('15 2 * * *', tz, '2027-10-02T00:00:00Z', 2)).toEqual(['2027-10-02T15:30:00Z', '2027-10-03T15:15:00Z']);
    // 02:45 exists: no DST effect
    expect(details('45 2 * * *', tz, '2027-10-02T00:00:00Z', 1)).toEqual(['2027-10-02T15:45:00Z 2027-10-03T02:45:00']);
    expect(runs('*/15 2 * * *', tz, '2027-10-02T12:00:00Z', 3)).toEqual(['2027-10-02T15:30:00Z', '2027-10-02T15:45:00Z', '2027-10-03T15:00:00Z']);
  });

  it('overlap 01:30-02:00 on 2027-04-04', () => {
    expect(details('*/15 1 * * *', tz, '2027-04-03T12:00:00Z', 5)).toEqual([
      '2027-04-03T14:00:00Z 2027-04-04T01:00:00',
      '2027-04-03T14:15:00Z 2027-04-04T01:15:00',
      '2027-04-03T14:30:00Z 2027-04-04T01:30:00 overlap',
      '2027-04-03T14:45:00Z 2027-04-04T01:45:00 overlap',
      '2027-04-04T14:30:00Z 2027-04-05T01:00:00',
    ]);
  });
});

describe('historical and unusual transitions', () => {
  it('America/Santiago 2018: midnight skipped (00:00 -> 01:00) and repeated (24:00 -> 23:00)', () => {
    expect(details('0 0 * * *', 'America/Santiago', '2018-08-10T12:00:00Z', 3)).toEqual([
      '2018-08-11T04:00:00Z 2018-08-11T00:00:00',
      '2018-08-12T04:00:00Z 2018-08-12T01:00:00 gap',
      '2018-08-13T03:00:00Z 2018-08-13T00:00:00',
    ]);
    expect(details('30 23 * * *', 'America/Santiago', '2018-05-12T12:00:00Z', 2)).toEqual([
      '2018-05-13T02:30:00Z 2018-05-12T23:30:00 overlap',
      '2018-05-14T03:30:00Z 2018-05-13T23:30:00',
    ]);
  });

  it('Asia/Tehran 2021: midnight skipped on 03-22, 23:xx repeated on 09-21', () => {
    expect(details('0 0 * * *', 'Asia/Tehran', '2021-03-20T12:00:00Z', 3)).toEqual([
      '2021-03-20T20:30:00Z 2021-03-21T00:00:00',
      '2021-03-21T20:30:00Z 2021-03-22T01:00:00 gap',
      '2021-03-22T19:30:00Z 2021-03-23T00:00:00',
    ]);
    expect(details('30 23 * * *', 'Asia/Tehran', '2021-09-21T00:00:00Z', 2)).toEqual([
      '2021-09-21T19:00:00Z 2021-09-21T23:30:00 overlap',
      '2021-09-22T20:00:00Z 2021-09-22T23:30:00',
    ]);
  });

  it('Pacific/Apia 2011: the whole of December 30 was skipped; it fires once, at Dec 31 00:00 local', () => {
    expect(details('0 12 * * *', 'Pacific/Apia', '2011-12-28T12:00:00Z', 3)).toEqual([
      '2011-12-28T22:00:00Z 2011-12-28T12:00:00',
      '2011-12-29T22:00:00Z 2011-12-29T12:00:00',
      '2011-12-30T10:00:00Z 2011-12-31T00:00:00 gap',
    ]);
    expect(runs('0 12 * * *', 'Pacific/Apia', '2011-12-30T10:00:00Z', 1)).toEqual(['2011-12-30T22:00:00Z']);
    // every hour of the skipped day: one occurrence for the whole gap
    expect(runs('0 * * * *', 'Pacific/Apia', '2011-12-30T08:30:00Z', 3)).toEqual([
      '2011-12-30T09:00:00Z', // Dec 29 23:00 -10
      '2011-12-30T10:00:00Z', // Dec 30 00:00-23:00 skipped, and Dec 31 00:00 +14
      '2011-12-30T11:00:00Z',
    ]);
    expect(details('0 9 30 12 *', 'Pacific/Apia', '2011-06-01T00:00:00Z', 1)).toEqual(['2011-12-30T10:00:00Z 2011-12-31T00:00:00 gap']);
  });

  it('Antarctica/Troll: a two-hour gap fires once', () => {
    expect(runs('30 1 * * *', 'Antarctica/Troll', '2027-03-27T12:00:00Z', 2)).toEqual(['2027-03-28T01:00:00Z', '2027-03-28T23:30:00Z']);
    expect(runs('0 1,2 * * *', 'Antarctica/Troll', '2027-03-27T12:00:00Z', 3)).toEqual([
      '2027-03-28T01:00:00Z',
      '2027-03-28T23:00:00Z',
      '2027-03-29T00:00:00Z',
    ]);
  });

  it('Asia/Kathmandu 1986: a 15-minute gap at midnight', () => {
    expect(details('0 0 * * *', 'Asia/Kathmandu', '1985-12-30T12:00:00Z', 3)).toEqual([
      '1985-12-30T18:30:00Z 1985-12-31T00:00:00',
      '1985-12-31T18:30:00Z 1986-01-01T00:15:00 gap',
      '1986-01-01T18:15:00Z 1986-01-02T00:00:00',
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// Brute force reference: walk every instant (each minute, or each second) of a window around
// a transition, read its wall clock straight from Intl, and apply the rule literally:
// - a local time seen for the first time that matches fires at that instant;
// - a local time seen before (second pass) does not fire;
// - when the wall clock jumps forward, if any skipped local time matches, fire at the
//   first instant after the jump.
// Transitions are found by scanning the year with Intl too, so nothing here shares code with
// zone.ts or the walk in cron.ts; only the field parsing (croner's) is common.

function intlLocal(tz: string): (t: number) => number {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (t) => {
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(t)) p[part.type] = Number(part.value);
    return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  };
}

function transitionsOf(tz: string, year: number): number[] {
  const local = intlLocal(tz);
  const offset = (t: number) => local(t) - t;
  const out: number[] = [];
  let prev = offset(Date.UTC(year, 0, 1));
  for (let t = Date.UTC(year, 0, 1) + 3600_000; t < Date.UTC(year + 1, 0, 1); t += 3600_000) {
    const off = offset(t);
    if (off !== prev) {
      let a = t - 3600_000;
      let b = t;
      while (b - a > 1000) {
        const mid = a + Math.floor((b - a) / 2000) * 1000;
        if (offset(mid) === prev) a = mid;
        else b = mid;
      }
      out.push(b);
    }
    prev = off;
  }
  return out;
}

function matcher(expression: string): (local: number) => boolean {
  const p = new CronPattern(expression, undefined, { mode: '5-or-6-parts' });
  const six = expression.trim().split(/\s+/).length === 6;
  return (local) => {
    const d = new Date(local);
    const domOk = p.day[d.getUTCDate() - 1] === 1;
    const dowOk = p.dayOfWeek[d.getUTCDay()] !== 0;
    const dayOk = !p.starDOM && !p.starDOW ? domOk || dowOk : domOk && dowOk;
    return (
      (six ? p.second[d.getUTCSeconds()] === 1 : d.getUTCSeconds() === 0) &&
      p.minute[d.getUTCMinutes()] === 1 &&
      p.hour[d.getUTCHours()] === 1 &&
      p.month[d.getUTCMonth()] === 1 &&
      dayOk
    );
  };
}

function bruteForce(expressions: string[], tz: string, from: number, to: number, step: number): Map<string, string[]> {
  const local = intlLocal(tz);
  const locals: number[] = [];
  for (let t = from - step; t <= to; t += step) locals.push(local(t));
  const result = new Map<string, string[]>();
  for (const expression of expressions) {
    const matches = matcher(expression);
    const fired: string[] = [];
    const seen = new Set<number>();
    for (let i = 1; i < locals.length; i++) {
      const t = from + (i - 1) * step;
      const L = locals[i]!;
      const prev = locals[i - 1]!;
      let fire = false;
      for (let x = prev + step; x < L; x += step) {
        if (matches(x)) {
          fire = true; // skipped local time
          break;
        }
      }
      if (!seen.has(L)) {
        seen.add(L);
        if (matches(L)) fire = true;
      }
      if (fire) fired.push(new Date(t).toISOString());
    }
    result.set(expression, fired);
  }
  return result;
}

function ours(expression: string, tz: string, from: number, to: number): string[] {
  const c = compileCron({ expression, timezone: tz });
  const out: string[] = [];
  let t = new Date(from - 1);
  for (;;) {
    const n = c.nextAfter(t);
    if (n === null || n.getTime() > to) return out;
    out.push(n.toISOString());
    t = n;
  }
}

const ZONES: [string, number][] = [
  ['Europe/Berlin', 2027],
  ['Europe/London', 2027],
  ['America/New_York', 2027],
  ['America/St_Johns', 2027],
  ['America/Havana', 2027],
  ['Australia/Lord_Howe', 2027],
  ['Australia/Sydney', 2027],
  ['Pacific/Chatham', 2027],
  ['Antarctica/Troll', 2027],
  ['America/Santiago', 2018],
  ['America/Sao_Paulo', 2018],
  ['Asia/Tehran', 2021],
  ['Pacific/Apia', 2011],
  ['Europe/Moscow', 2011],
  ['Europe/Moscow', 2014],
  ['America/New_York', 1965],
  ['Europe/Berlin', 1945], // double summer time (+3), several transitions in a year
];

const MINUTE_EXPRESSIONS = [
  '* * * * *',
  '*/7 * * * *',
  '*/15 * * * *',
  '*/30 * * * *',
  '0 * * * *',
  '30 * * * *',
  '45 * * * *',
  '0 0 * * *',
  '30 0 * * *',
  '0 1 * * *',
  '30 1 * * *',
  '0 2 * * *',
  '30 2 * * *',
  '*/15 2 * * *',
  '0 2,3 * * *',
  '15,45 1-3 * * *',
  '0-10 2 * * *',
  '0 3 * * *',
  '59 23 * * *',
  '45 23,0,1 * * *',
  '0 12 * * *',
  '0 0 * * 0',
  '0 2 1 * SUN',
  '0 0 1 * *',
];

describe('matches a brute-force reference around every transition', () => {
  for (const [tz, year] of ZONES) {
    it(`${tz} ${year}, minute patterns`, () => {
      const transitions = transitionsOf(tz, year);
      expect(transitions.length).toBeGreaterThan(0);
      for (const tr of transitions) {
        // 14 h either side (27 h for Apia's 24 h gap): the jump, and the days around it
        const span = (tz === 'Pacific/Apia' ? 27 : 14) * 3600_000;
        const from = tr - span;
        const to = tr + span;
        const expected = bruteForce(MINUTE_EXPRESSIONS, tz, from, to, 60_000);
        for (const expression of MINUTE_EXPRESSIONS) {
          expect(ours(expression, tz, from, to), `${expression} in ${tz} around ${new Date(tr).toISOString()}`).toEqual(
            expected.get(expression),
          );
        }
      }
    });
  }

  const SECOND_EXPRESSIONS = ['* * * * * *', '*/20 * * * * *', '0 30 2 * * *', '59 59 1 * * *', '30 * 2 * * *', '0 0 3 * * *', '*/45 */10 * * * *'];
  for (const [tz, year] of [
    ['Europe/Berlin', 2027],
    ['Australia/Lord_Howe', 2027],
    ['America/Santiago', 2018],
  ] as const) {
    it(`${tz} ${year}, second patterns`, () => {
      for (const tr of transitionsOf(tz, year)) {
        const from = tr - 2 * 3600_000;
        const to = tr + 2 * 3600_000;
        const expected = bruteForce(SECOND_EXPRESSIONS, tz, from, to, 1000);
        for (const expression of SECOND_EXPRESSIONS) {
          expect(ours(expression, tz, from, to), `${expression} in ${tz} around ${new Date(tr).toISOString()}`).toEqual(
            expected.get(expression),
          );
        }
      }
    });
  }
});
