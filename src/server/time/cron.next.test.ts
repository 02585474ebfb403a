// Occurrences away from DST: field semantics, calendars, bounds, and agreement with croner.
import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { compileCron, describeOccurrence, type CronSpec } from './cron.js';

const iso = (s: string) => new Date(s);
/** `count` occurrences after `after`, as ISO strings */
const runs = (spec: CronSpec | string, after: string, count: number) =>
  compileCron(typeof spec === 'string' ? { expression: spec } : spec)
    .next(iso(after), count)
    .map((d) => d.toISOString());
const nextOf = (spec: CronSpec | string, after: string) =>
  compileCron(typeof spec === 'string' ? { expression: spec } : spec).nextAfter(iso(after))?.toISOString() ?? null;

describe('fields (UTC)', () => {
  it('steps', () => {
    expect(runs('*/5 * * * *', '2026-01-01T00:02:30Z', 3)).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:15:00.000Z',
    ]);
    expect(runs('10-40/15 * * * *', '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:25:00.000Z',
      '2026-01-01T00:40:00.000Z',
      '2026-01-01T01:10:00.000Z',
    ]);
    expect(runs('0 */6 * * *', '2026-01-01T05:00:00Z', 3)).toEqual([
      '2026-01-01T06:00:00.000Z',
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T18:00:00.000Z',
    ]);
  });

  it('lists and ranges', () => {
    expect(runs('0,30 9-10 * * *', '2026-03-01T00:00:00Z', 5)).toEqual([
      '2026-03-01T09:00:00.000Z',
      '2026-03-01T09:30:00.000Z',
      '2026-03-01T10:00:00.000Z',
      '2026-03-01T10:30:00.000Z',
      '2026-03-02T09:00:00.000Z',
    ]);
  });

  it('is strictly after `after`, and ignores its milliseconds', () => {
    expect(nextOf('*/5 * * * *', '2026-01-01T00:05:00.000Z')).toBe('2026-01-01T00:10:00.000Z');
    expect(nextOf('*/5 * * * *', '2026-01-01T00:04:59.999Z')).toBe('2026-01-01T00:05:00.000Z');
    expect(nextOf('* * * * * *', '2026-01-01T10:00:00.500Z')).toBe('2026-01-01T10:00:01.000Z');
    expect(nextOf('* * * * * *', '2026-01-01T10:00:00.000Z')).toBe('2026-01-01T10:00:01.000Z');
    expect(nextOf('*/15 * * * * *', '2026-01-01T10:00:00.500Z')).toBe('2026-01-01T10:00:15.000Z');
  });

  it('5 fields fire on second 0; 6 fields take seconds first', () => {
    expect(nextOf('* * * * *', '2026-01-01T10:00:00.000Z')).toBe('2026-01-01T10:01:00.000Z');
    expect(runs('30 */2 * * * *', '2026-01-01T10:00:00Z', 3)).toEqual([
      '2026-01-01T10:00:30.000Z',
      '2026-01-01T10:02:30.000Z',
      '2026-01-01T10:04:30.000Z',
    ]);
    expect(runs('0 30 9 * * MON-FRI', '2026-01-02T09:30:00Z', 1)).toEqual(['2026-01-05T09:30:00.000Z']);
  });

  it('weekdays: names, 0 and 7 are Sunday, ranges up to 7', () => {
    // 2026-01-02 is a Friday
    expect(nextOf('0 9 * * 1-5', '2026-01-02T09:00:00Z')).toBe('2026-01-05T09:00:00.000Z');
    expect(nextOf('0 9 * * MON-FRI', '2026-01-02T09:00:00Z')).toBe('2026-01-05T09:00:00.000Z');
    expect(runs('0 0 * * 7', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-04T00:00:00.000Z', '2026-01-11T00:00:00.000Z']);
    expect(runs('0 0 * * 0', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-04T00:00:00.000Z', '2026-01-11T00:00:00.000Z']);
    expect(runs('0 0 * * SUN', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-04T00:00:00.000Z']);
    expect(runs('0 0 * * 5-7', '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
      '2026-01-04T00:00:00.000Z',
      '2026-01-09T00:00:00.000Z',
    ]);
  });

  it('months: names and numbers', () => {
    expect(runs('0 0 1 JAN,jul *', '2026-01-01T00:00:00Z', 3)).toEqual([
      '2026-07-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
      '2027-07-01T00:00:00.000Z',
    ]);
    expect(runs('0 0 1 */4 *', '2026-02-01T00:00:00Z', 3)).toEqual([
      '2026-05-01T00:00:00.000Z',
      '2026-09-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
    ]);
  });

  it('day-of-month OR day-of-week when both are restricted (Vixie cron)', () => {
    // the 1st of the month, and every Monday; 2026-02-01 is a Sunday
    expect(runs('0 0 1 * MON', '2026-01-20T00:00:00Z', 5)).toEqual([
      '2026-01-26T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
      '2026-02-02T00:00:00.000Z',
      '2026-02-09T00:00:00.000Z',
      '2026-02-16T00:00:00.000Z',
    ]);
    // every 13th, and every Friday (not only Friday the 13th)
    expect(runs('0 0 13 * FRI', '2026-03-01T00:00:00Z', 4)).toEqual([
      '2026-03-06T00:00:00.000Z',
      '2026-03-13T00:00:00.000Z',
      '2026-03-20T00:00:00.000Z',
      '2026-03-27T00:00:00.000Z',
    ]);
    // a restricted step counts as restricted: odd days OR Sundays
    expect(runs('0 0 */2 * 0', '2026-01-01T12:00:00Z', 4)).toEqual([
      '2026-01-03T00:00:00.000Z',
      '2026-01-04T00:00:00.000Z',
      '2026-01-05T00:00:00.000Z',
      '2026-01-07T00:00:00.000Z',
    ]);
  });

  it('`?` is `*`', () => {
    expect(runs('0 12 ? * MON', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-05T12:00:00.000Z', '2026-01-12T12:00:00.000Z']);
    expect(runs('0 12 1 * ?', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T12:00:00.000Z', '2026-02-01T12:00:00.000Z']);
  });

  it('macros', () => {
    const after = '2026-05-13T10:30:00Z'; // a Wednesday
    expect(nextOf('@hourly', after)).toBe('2026-05-13T11:00:00.000Z');
    expect(nextOf('@daily', after)).toBe('2026-05-14T00:00:00.000Z');
    expect(nextOf('@midnight', after)).toBe('2026-05-14T00:00:00.000Z');
    expect(nextOf('@weekly', after)).toBe('2026-05-17T00:00:00.000Z');
    expect(nextOf('@monthly', after)).toBe('2026-06-01T00:00:00.000Z');
    expect(nextOf('@yearly', after)).toBe('2027-01-01T00:00:00.000Z');
    expect(nextOf('@annually', after)).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('calendar', () => {
  it('leap days: Feb 29 only in leap years, and 2100 is not one', () => {
    expect(runs('0 12 29 2 *', '2026-01-01T00:00:00Z', 3)).toEqual([
      '2028-02-29T12:00:00.000Z',
      '2032-02-29T12:00:00.000Z',
      '2036-02-29T12:00:00.000Z',
    ]);
    expect(runs('0 12 29 2 *', '2096-03-01T00:00:00Z', 1)).toEqual(['2104-02-29T12:00:00.000Z']);
    expect(runs('0 0 29 2 *', '1999-01-01T00:00:00Z', 1)).toEqual(['2000-02-29T00:00:00.000Z']);
  });

  it('day 31 skips short months', () => {
    expect(runs('0 0 31 * *', '2026-01-01T00:00:00Z', 7)).toEqual([
      '2026-01-31T00:00:00.000Z',
      '2026-03-31T00:00:00.000Z',
      '2026-05-31T00:00:00.000Z',
      '2026-07-31T00:00:00.000Z',
      '2026-08-31T00:00:00.000Z',
      '2026-10-31T00:00:00.000Z',
      '2026-12-31T00:00:00.000Z',
    ]);
    expect(runs('0 0 30 * *', '2026-01-30T00:00:00Z', 2)).toEqual(['2026-03-30T00:00:00.000Z', '2026-04-30T00:00:00.000Z']);
  });

  it('28-31 takes what each month has', () => {
    expect(runs('0 0 28-31 * *', '2026-02-01T00:00:00Z', 5)).toEqual([
      '2026-02-28T00:00:00.000Z',
      '2026-03-28T00:00:00.000Z',
      '2026-03-29T00:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
      '2026-03-31T00:00:00.000Z',
    ]);
    expect(runs('0 0 28-31 * *', '2028-02-01T00:00:00Z', 3)).toEqual([
      '2028-02-28T00:00:00.000Z',
      '2028-02-29T00:00:00.000Z',
      '2028-03-28T00:00:00.000Z',
    ]);
  });

  it('a day list spanning a short month does not skip the next month', () => {
    // from Feb 2, the next of {1, 30} is Mar 1, not Mar 30
    expect(runs('0 0 1,30 * *', '2026-02-02T00:00:00Z', 3)).toEqual([
      '2026-03-01T00:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
      '2026-04-01T00:00:00.000Z',
    ]);
  });

  it('rolls over minutes, hours, days, months and years', () => {
    expect(nextOf('* * * * * *', '2026-12-31T23:59:59Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(nextOf('* * * * *', '2026-12-31T23:59:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(nextOf('0 0 1 1 *', '2026-12-31T23:59:59.999Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(nextOf('59 59 23 31 12 *', '2026-01-01T00:00:00Z')).toBe('2026-12-31T23:59:59.000Z');
  });

  it('returns whole seconds only', () => {
    const c = compileCron({ expression: '*/7 * * * * *', timezone: 'Europe/Berlin' });
    for (const d of c.next(iso('2026-04-01T10:00:00.123Z'), 50)) expect(d.getUTCMilliseconds()).toBe(0);
  });

  it('next() counts and stops', () => {
    expect(runs('* * * * *', '2026-01-01T00:00:00Z', 0)).toEqual([]);
    expect(runs('* * * * *', '2026-01-01T00:00:00Z', -3)).toEqual([]);
    expect(() => runs('* * * * *', '2026-01-01T00:00:00Z', Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(runs('* * * * *', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T00:01:00.000Z']);
    const many = compileCron({ expression: '*/10 * * * * *' }).next(iso('2026-01-01T00:00:00Z'), 1000);
    expect(many).toHaveLength(1000);
    expect(many[999]!.toISOString()).toBe('2026-01-01T02:46:40.000Z');
    for (let i = 1; i < many.length; i++) expect(many[i]!.getTime() - many[i - 1]!.getTime()).toBe(10_000);
  });

  it('a fixed-offset zone shifts by its offset', () => {
    // Etc/GMT+5 is UTC-5 (POSIX sign)
    expect(runs({ expression: '0 9 * * *', timezone: 'Etc/GMT+5' }, '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T14:00:00.000Z']);
    expect(runs({ expression: '30 9 * * *', timezone: 'Asia/Kolkata' }, '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T04:00:00.000Z']);
    expect(runs({ expression: '0 0 * * *', timezone: 'Asia/Tokyo' }, '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T15:00:00.000Z']);
  });

  it('works before 1970 and far ahead', () => {
    expect(runs({ expression: '0 12 * * *', timezone: 'Europe/Berlin' }, '1960-06-01T00:00:00Z', 2)).toEqual([
      '1960-06-01T11:00:00.000Z',
      '1960-06-02T11:00:00.000Z',
    ]);
    expect(runs('0 12 * * *', '1960-06-01T00:00:00Z', 1)).toEqual(['1960-06-01T12:00:00.000Z']);
    expect(runs({ expression: '0 12 * * *', timezone: 'America/New_York' }, '2199-07-01T00:00:00Z', 1)).toEqual(['2199-07-01T16:00:00.000Z']);
    expect(runs('0 0 1 1 *', '9999-06-01T00:00:00Z', 1)).toEqual([]);
  });

  it('UTC aliases take the UTC path and agree', () => {
    for (const tz of ['utc', 'Etc/UTC', 'GMT']) {
      expect(runs({ expression: '0 9 * * *', timezone: tz }, '2026-07-01T10:00:00Z', 1)).toEqual(['2026-07-02T09:00:00.000Z']);
    }
  });
});

describe('startAt and endAt', () => {
  const startAt = iso('2026-01-01T10:00:00Z');
  const endAt = iso('2026-01-01T12:00:00Z');

  it('startAt is inclusive', () => {
    expect(nextOf({ expression: '0 * * * *', startAt }, '2026-01-01T00:00:00Z')).toBe('2026-01-01T10:00:00.000Z');
    expect(nextOf({ expression: '0 * * * *', startAt }, '2026-01-01T10:00:00Z')).toBe('2026-01-01T11:00:00.000Z');
    // a startAt with milliseconds excludes the whole second it is in
    expect(nextOf({ expression: '0 * * * *', startAt: iso('2026-01-01T10:00:00.001Z') }, '2026-01-01T00:00:00Z')).toBe(
      '2026-01-01T11:00:00.000Z',
    );
  });

  it('endAt is inclusive', () => {
    expect(nextOf({ expression: '0 * * * *', endAt }, '2026-01-01T11:00:00Z')).toBe('2026-01-01T12:00:00.000Z');
    expect(nextOf({ expression: '0 * * * *', endAt }, '2026-01-01T11:30:00Z')).toBe('2026-01-01T12:00:00.000Z');
    expect(nextOf({ expression: '0 * * * *', endAt }, '2026-01-01T12:00:00Z')).toBeNull();
    expect(nextOf({ expression: '0 * * * *', endAt }, '2027-01-01T00:00:00Z')).toBeNull();
    expect(nextOf({ expression: '0 * * * *', endAt: iso('2026-01-01T11:59:59.999Z') }, '2026-01-01T11:00:00Z')).toBeNull();
  });

  it('both: the window and nothing else', () => {
    expect(runs({ expression: '0 * * * *', startAt, endAt }, '2025-01-01T00:00:00Z', 10)).toEqual([
      '2026-01-01T10:00:00.000Z',
      '2026-01-01T11:00:00.000Z',
      '2026-01-01T12:00:00.000Z',
    ]);
    // a window the schedule never hits is not an error; it just has no occurrence
    expect(runs({ expression: '0 0 1 1 *', startAt, endAt }, '2025-01-01T00:00:00Z', 10)).toEqual([]);
  });

  it('in a zone', () => {
    const spec = {
      expression: '0 9 * * *',
      timezone: 'Europe/Berlin',
      startAt: iso('2026-07-01T07:00:00Z'), // 09:00 local
      endAt: iso('2026-07-03T07:00:00Z'),
    };
    expect(runs(spec, '2026-06-01T00:00:00Z', 5)).toEqual([
      '2026-07-01T07:00:00.000Z',
      '2026-07-02T07:00:00.000Z',
      '2026-07-03T07:00:00.000Z',
    ]);
  });

  it('a far-away next occurrence is found, and a far-away endAt is respected', () => {
    expect(nextOf({ expression: '0 0 29 2 *', endAt: iso('2027-12-31T00:00:00Z') }, '2026-01-01T00:00:00Z')).toBeNull();
    expect(nextOf({ expression: '0 0 29 2 *', endAt: iso('2028-02-29T00:00:00Z') }, '2026-01-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });
});

// Away from DST transitions our own walk must agree with croner's. Deterministic pseudo-random
// instants, a broad set of expressions, in UTC and in zones without DST in the sampled years.
describe('agrees with croner where there is no DST', () => {
  const expressions = [
    '* * * * *',
    '*/5 * * * *',
    '7 * * * *',
    '0 9 * * 1-5',
    '0 0 1 * MON',
    '0 0 13 * FRI',
    '0 0 */2 * 0',
    '15 3 1-7 * 1',
    '0 0 31 * *',
    '0 12 29 2 *',
    '0 0 28-31 * *',
    '30 4 1,15 * *',
    '0 22 * * 0,6',
    '0 0 1 JAN,APR,JUL,OCT *',
    '0 */3 * * *',
    '5-10/2 8-17 * * MON-FRI',
    '0 0 * * 7',
    '59 23 31 12 *',
    '*/10 * * * * *',
    '30 15 10 * * *',
    '0 0 0 1 1 *',
    '15,45 */4 10-20 * 2-4',
    '0 0 1,15 * 3',
    '0 0 ? * 5',
    '@weekly',
    '@monthly',
  ];
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const from = Date.UTC(1995, 0, 1);
  const to = Date.UTC(2060, 0, 1);
  const instants = Array.from({ length: 25 }, () => new Date(from + Math.floor(random() * (to - from))));

  for (const tz of ['UTC', 'Asia/Tokyo', 'Asia/Kolkata']) {
    it(`in ${tz}`, () => {
      for (const expression of expressions) {
        const ours = compileCron({ expression, timezone: tz });
        const theirs = new Cron(expression, { timezone: tz === 'UTC' ? 'Etc/UTC' : tz, mode: '5-or-6-parts' });
        for (const at of instants) {
          expect(ours.next(at, 3).map((d) => d.toISOString()), `${expression} after ${at.toISOString()}`).toEqual(
            theirs.nextRuns(3, at).map((d) => d.toISOString()),
          );
        }
      }
    });
  }
});

describe('describeOccurrence away from DST', () => {
  it('UTC: local equals the instant, no DST', () => {
    const c = compileCron({ expression: '0 9 * * *' });
    expect(describeOccurrence(c, iso('2026-07-01T09:00:00Z'))).toEqual({ at: '2026-07-01T09:00:00.000Z', local: '2026-07-01T09:00:00', dst: null });
  });

  it('a zone: local wall clock in that zone', () => {
    const c = compileCron({ expression: '0 9 * * *', timezone: 'America/New_York' });
    const [first] = c.next(iso('2026-07-01T00:00:00Z'), 1);
    expect(describeOccurrence(c, first!)).toEqual({ at: '2026-07-01T13:00:00.000Z', local: '2026-07-01T09:00:00', dst: null });
    expect(describeOccurrence(c, iso('2026-12-31T23:59:59Z')).local).toBe('2026-12-31T18:59:59');
  });

  it('accepts any CompiledCron-shaped object', () => {
    const real = compileCron({ expression: '30 2 * * *', timezone: 'Europe/Berlin' });
    const wrapped = { expression: real.expression, timezone: real.timezone, hasSeconds: false, nextAfter: real.nextAfter.bind(real), next: real.next.bind(real), describe: () => '' };
    expect(describeOccurrence(wrapped, iso('2027-03-28T01:00:00Z'))).toEqual({ at: '2027-03-28T01:00:00.000Z', local: '2027-03-28T03:00:00', dst: 'gap' });
  });

  it('rejects invalid dates', () => {
    const c = compileCron({ expression: '0 9 * * *' });
    expect(() => c.nextAfter(new Date('nope'))).toThrow(RangeError);
    expect(() => describeOccurrence(c, new Date('nope'))).toThrow(RangeError);
  });
});
