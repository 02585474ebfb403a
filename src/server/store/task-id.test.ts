import { describe, expect, it } from 'vitest';
import { taskId } from './tasks.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('taskId', () => {
  it('is a UUID version 7 whose first 48 bits are the given millisecond', () => {
    for (const now of [0, 1, Date.UTC(2026, 11, 1, 9), 2 ** 48 - 1]) {
      const id = taskId(now);
      expect(id).toMatch(V7);
      expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
    }
  });

  it('differs between ids of one millisecond and sorts by time across milliseconds', () => {
    const now = Date.UTC(2026, 11, 1, 9);
    const same = new Set(Array.from({ length: 1000 }, () => taskId(now)));
    expect(same.size).toBe(1000);
    const ids = [now + 2, now, now + 1].map((t) => taskId(t));
    expect([...ids].sort()).toEqual([ids[1], ids[2], ids[0]]);
  });

  it('keeps the order it made them in within a millisecond (the first 4,096), then stays unique', () => {
    const now = Date.UTC(2026, 11, 1, 10);
    const made = Array.from({ length: 5000 }, () => taskId(now));
    const first = made.slice(0, 4096);
    expect([...first].sort()).toEqual(first);
    expect(new Set(made).size).toBe(5000);
    for (const id of made) expect(id).toMatch(V7);
  });
});
