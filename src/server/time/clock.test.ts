import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.js';

describe('clocks', () => {
  it('systemClock reads the real time', () => {
    const before = Date.now();
    const now = systemClock.now().getTime();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('ManualClock moves only when told', () => {
    const c = new ManualClock('2026-01-01T00:00:00Z');
    expect(c.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(c.advance(1500).toISOString()).toBe('2026-01-01T00:00:01.500Z');
    c.set(new Date('2027-03-28T01:00:00Z'));
    expect(c.now().toISOString()).toBe('2027-03-28T01:00:00.000Z');
    // now() returns a fresh Date each time
    c.now().setTime(0);
    expect(c.now().toISOString()).toBe('2027-03-28T01:00:00.000Z');
    expect(() => new ManualClock('nonsense')).toThrow(RangeError);
  });
});

describe('ManualClock timers', () => {
  it('reads exactly a due instant after fractional (jittered) timers fired on the way', () => {
    // 13-digit epoch milliseconds plus fractional delays used to drift below the instant
    const start = Date.parse('2026-12-01T11:19:43.797Z');
    const c = new ManualClock(start);
    let at = -1;
    c.setTimer(() => undefined, 430.34187769704687);
    c.setTimer(() => undefined, 572.1097767607755);
    c.setTimer(() => (at = c.now().getTime()), 20_000);
    c.advance(20_000);
    expect(at).toBe(start + 20_000);
    expect(c.now().getTime()).toBe(start + 20_000);
  });

  it('fire in due order as the clock advances, each at its own time', () => {
    const c = new ManualClock('2026-01-01T00:00:00Z');
    const seen: string[] = [];
    c.setTimer(() => seen.push(`b@${c.now().toISOString().slice(17, 23)}`), 200);
    const a = c.setTimer(() => seen.push('cancelled'), 100);
    c.setTimer(() => {
      seen.push(`a@${c.now().toISOString().slice(17, 23)}`);
      c.setTimer(() => seen.push(`c@${c.now().toISOString().slice(17, 23)}`), 50);
    }, 100);
    a.cancel();
    c.advance(120);
    expect(seen).toEqual(['a@00.100']);
    c.advance(1000);
    expect(seen).toEqual(['a@00.100', 'c@00.150', 'b@00.200']);
    expect(c.monotonicMs()).toBe(1120);
    expect(c.pendingTimers).toBe(0);
  });

  it('freeze moves time without firing; what fell due fires on the next advance, late', () => {
    const c = new ManualClock(0);
    const at: number[] = [];
    c.setTimer(() => at.push(c.now().getTime()), 100);
    c.freeze(5000);
    expect(at).toEqual([]);
    c.advance(0);
    expect(at).toEqual([5000]);
  });
});
