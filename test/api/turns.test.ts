// Batch writes take turns (src/server/api/tasks.ts, Turns): at most `max` at a time, in order.
import { describe, expect, it } from 'vitest';
import { Turns } from '../../src/server/api/tasks.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Turns', () => {
  it('runs at most max at a time, in arrival order, and a failure hands on its turn', async () => {
    for (const max of [1, 2]) {
      const turns = new Turns(() => max);
      let running = 0;
      let most = 0;
      const started: number[] = [];
      const job = (i: number) =>
        turns.run(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await tick();
          running--;
          if (i === 1) throw new Error('refused');
          return i;
        });
      const results = await Promise.allSettled([0, 1, 2, 3, 4].map(job));
      expect(most).toBe(max);
      expect(started).toEqual([0, 1, 2, 3, 4]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([0, 'failed', 2, 3, 4]);
      // nothing left holding a turn: the next one starts at once
      let ran = false;
      await turns.run(async () => (ran = true));
      expect(ran).toBe(true);
    }
  });

  it('reads its limit as turns start and end: a lower limit takes effect as running ones finish', async () => {
    let max = 3;
    const turns = new Turns(() => max);
    let running = 0;
    const seen: number[] = [];
    const job = () =>
      turns.run(async () => {
        seen.push(++running);
        await tick();
        running--;
      });
    const first = [job(), job(), job()];
    max = 1;
    const later = [job(), job(), job()];
    await Promise.all([...first, ...later]);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    // once the limit dropped, the waiting ones ran one at a time
    expect(seen.slice(3)).toEqual([1, 1, 1]);
  });
});
