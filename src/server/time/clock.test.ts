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
