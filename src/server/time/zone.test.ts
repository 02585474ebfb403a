// The cached offsets must equal what Intl says, instant by instant.
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, Zone, canonicalZoneName, zoneFor } from './zone.js';

const formats = new Map<string, Intl.DateTimeFormat>();
function intlOffset(tz: string, t: number): number {
  let fmt = formats.get(tz);
  fmt ??= new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  formats.set(tz, fmt);
  const p: Record<string, number> = {};
  for (const part of fmt.formatToParts(t)) p[part.type] = Number(part.value);
  const whole = Math.floor(t / 1000) * 1000;
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - whole;
}

describe('Zone', () => {
  it('finds the 2027 Berlin transitions to the second', () => {
    const z = new Zone('Europe/Berlin');
    const w = z.window(Date.UTC(2027, 0, 1), Date.UTC(2028, 0, 1));
    expect(w.offset).toBe(HOUR);
    expect(w.transitions!.map((t) => [new Date(t.at).toISOString(), t.before / HOUR, t.after / HOUR])).toEqual([
      ['2027-03-28T01:00:00.000Z', 1, 2],
      ['2027-10-31T01:00:00.000Z', 2, 1],
    ]);
    expect(z.offsetAt(Date.parse('2027-03-28T00:59:59.999Z'))).toBe(HOUR);
    expect(z.offsetAt(Date.parse('2027-03-28T01:00:00.000Z'))).toBe(2 * HOUR);
    expect(z.window(Date.UTC(2027, 5, 1), Date.UTC(2027, 6, 1)).transitions).toBeNull();
  });

  it('finds a transition exactly at midnight UTC and one at a seconds-precise LMT change', () => {
    // Europe/London: GMT -> BST at 01:00Z; Africa/Monrovia: -0:44:30 -> 0 at 1972-01-07T00:44:30Z
    const monrovia = new Zone('Africa/Monrovia');
    const w = monrovia.window(Date.UTC(1972, 0, 1), Date.UTC(1972, 1, 1));
    expect(w.transitions!.map((t) => [new Date(t.at).toISOString(), t.before / 1000, t.after / 1000])).toEqual([
      ['1972-01-07T00:44:30.000Z', -2670, 0],
    ]);
    // Pacific/Apia skipped 2011-12-30: one transition of +24 h
    const apia = new Zone('Pacific/Apia');
    const a = apia.window(Date.UTC(2011, 11, 29), Date.UTC(2011, 11, 31));
    expect(a.transitions!.map((t) => [new Date(t.at).toISOString(), (t.after - t.before) / HOUR])).toEqual([['2011-12-30T10:00:00.000Z', 24]]);
  });

  it('agrees with Intl at pseudo-random instants, 1900-2040, in many zones', () => {
    const zones = [
      'Europe/Berlin',
      'America/New_York',
      'Australia/Lord_Howe',
      'America/Santiago',
      'Asia/Tehran',
      'Pacific/Apia',
      'Pacific/Chatham',
      'Asia/Kathmandu',
      'America/St_Johns',
      'Africa/Casablanca',
      'Antarctica/Troll',
      'Europe/Dublin',
    ];
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const from = Date.UTC(1900, 0, 1);
    const to = Date.UTC(2040, 0, 1);
    for (const tz of zones) {
      const z = zoneFor(tz);
      for (let i = 0; i < 300; i++) {
        const t = from + Math.floor(random() * (to - from));
        expect(z.offsetAt(t), `${tz} at ${new Date(t).toISOString()}`).toBe(intlOffset(tz, t));
      }
    }
  });

  it('agrees with Intl second by second around transitions', () => {
    for (const [tz, at] of [
      ['Europe/Berlin', '2027-10-31T01:00:00Z'],
      ['Australia/Lord_Howe', '2027-10-02T15:30:00Z'],
      ['Asia/Tehran', '2021-03-21T20:30:00Z'],
    ] as const) {
      const z = new Zone(tz);
      const t0 = Date.parse(at);
      for (let t = t0 - 120_000; t <= t0 + 120_000; t += 1000) expect(z.offsetAt(t), `${tz} ${new Date(t).toISOString()}`).toBe(intlOffset(tz, t));
    }
  });

  it('caches per day and survives many days', () => {
    const z = new Zone('America/New_York');
    for (let d = 0; d < 3000; d++) z.offsetAt(Date.UTC(2020, 0, 1) + d * DAY);
    expect(z.offsetAt(Date.parse('2026-07-01T12:00:00Z'))).toBe(-4 * HOUR);
    expect(z.offsetAt(Date.parse('2026-01-01T12:00:00Z'))).toBe(-5 * HOUR);
  });

  it('canonicalZoneName', () => {
    expect(canonicalZoneName('utc')).toBe('UTC');
    expect(canonicalZoneName('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalZoneName('Nowhere/Zone')).toBeNull();
  });
});
