// A node frozen (SIGSTOP) for longer than its lease: the other node takes its claimed
// occurrences over and fires them. When the frozen node wakes (SIGCONT) it sees the
// freeze on its monotonic clock, confirms its lease before firing anything overdue and
// drops what was taken over; the fence (owner + attempt) stays the backstop.
import { describe, expect, it } from 'vitest';
import {
  freshDatabase, allRuns, expectExactlyOnce, metric, node, sleep, victimHolding, waitFinished,
} from './cluster.js';

describe('SIGSTOP past the lease, then SIGCONT', () => {
  it('fires each occurrence once; the woken node confirms its lease and fires none of its stale copies', async () => {
    const { db, sql } = await freshDatabase();
    const survivor = await node({ databaseUrl: db.url });
    const victim = await node({ databaseUrl: db.url, env: { SUNDIAL_LOOKAHEAD_MS: '5000' } });
    const count = 30;

    const { ids, expected } = await victimHolding(sql, survivor, victim, count);
    const stoppedAt = Date.now();
    victim.kill('SIGSTOP');

    // the survivor takes them over once the victim's lease (5 s) lapses
    const taken = await waitFinished(sql, ids, 30_000);
    expect(taken.filter((r) => r.status === 'succeeded').length).toBe(count);
    // (the lease runs from the last heartbeat, up to 1 s before the freeze: the takeover
    // can come after ~4 s; stay frozen past a whole lease anyway)
    await sleep(stoppedAt + 6000 - Date.now());
    const contAt = Date.now();
    victim.kill('SIGCONT');

    // The victim wakes with every held occurrence overdue and sees on its monotonic clock
    // that it was frozen past its lease: it fires nothing until a heartbeat has confirmed
    // the lease, finds the runs were taken over, and drops them. No stale copy fires.
    const dropped = await (async () => {
      for (let i = 0; i < 50; i++) {
        const line = victim.logs.find((l) => l.includes('taken over by other nodes'));
        if (line) return JSON.parse(line) as { lost: number };
        await sleep(200);
      }
      return undefined;
    })();
    expect(victim.logs.some((l) => l.includes('frozen past its lease')), 'the woken node saw its own freeze').toBe(true);
    expect(dropped?.lost, 'the woken node dropped what the survivor had rescued').toBe(count);
    await sleep(1000);
    const fenced = await metric(victim.url, 'sundial_results_fenced_total');
    expect(fenced, 'the woken node fired none of its stale copies').toBe(0);

    const runs = (await allRuns(sql)).filter((r) => ids.includes(r.taskId));
    expectExactlyOnce(runs, expected);
    for (const r of runs) {
      // one row per occurrence, written by the survivor on the second attempt, before the victim woke
      expect(r.nodeId).toBe(survivor.nodeId);
      expect(r.attempt).toBe(2);
      expect(r.startedAt!.getTime()).toBeLessThan(contAt);
      expect(r.lagMs!).toBeLessThan(10_000);
    }
    // unchanged since the survivor recorded them
    expect(runs.map((r) => [r.id, r.startedAt!.getTime()])).toEqual(taken.map((r) => [r.id, r.startedAt!.getTime()]));

    // the woken node rejoins: it renews its lease and fires new work normally
    const lapsed = victim.logs.some((l) => l.includes('lease had lapsed'));
    expect(lapsed, 'the woken node noticed its lease had lapsed').toBe(true);
    expect((await fetch(`${victim.url}/readyz`)).status).toBe(200);
    console.log(`SIGSTOP: ${count} held occurrences fired by the survivor (max lag ${Math.round(Math.max(...runs.map((r) => r.lagMs!)))} ms); the woken node dropped ${dropped?.lost} and fired none`);
  });
});
