import { describe, expect, it } from 'vitest';
import { TimerQueue } from './timer-queue.js';

describe('TimerQueue', () => {
  it('pops due items in key order and keeps the rest', () => {
    const q = new TimerQueue<string>();
    const keys = [50, 10, 40, 30, 20, 60, 10];
    keys.forEach((k, i) => q.push(k, `${k}-${i}`));
    expect(q.peekKey()).toBe(10);
    const due = q.popDue(35);
    expect(due.map((s) => Number(s.split('-')[0]))).toEqual([10, 10, 20, 30]);
    expect(q.size).toBe(3);
    expect(q.popDue(1000).map((s) => Number(s.split('-')[0]))).toEqual([40, 50, 60]);
    expect(q.size).toBe(0);
  });

  it('stays ordered over many random pushes and removals', () => {
    const q = new TimerQueue<number>();
    const values = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 10007);
    for (const v of values) q.push(v, v);
    const removed = q.removeWhere((v) => v % 3 === 0);
    expect(removed.length).toBe(values.filter((v) => v % 3 === 0).length);
    const out = q.popDue(Infinity);
    expect(out).toEqual(values.filter((v) => v % 3 !== 0).sort((a, b) => a - b));
  });
});
