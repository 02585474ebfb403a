// SIGTERM: the node drains and exits 0 within 10 s; what it had claimed but not fired
// is handed back at once, so the other node fires it on time (not a lease later).
import { describe, expect, it } from 'vitest';
import { freshDatabase, allRuns, expectExactlyOnce, heldBy, node, victimHolding, waitFinished } from './cluster.js';

describe('SIGTERM (graceful stop)', () => {
  it('exits 0 promptly and hands its claims back to be fired on time by the other node', async () => {
    const { db, sql } = await freshDatabase();
    const survivor = await node({ databaseUrl: db.url });
    const victim = await node({ databaseUrl: db.url, env: { SUNDIAL_LOOKAHEAD_MS: '5000' } });
    const count = 40;

    const { ids, expected } = await victimHolding(sql, survivor, victim, count);
    // a live view is connected (the web UI keeps an event stream open): it must not hold the drain up
    const events = await fetch(`${victim.url}/api/events`);
    const reader = events.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('hello');
    const t0 = Date.now();
    victim.kill('SIGTERM');
    const code = await victim.exited;
    const exitMs = Date.now() - t0;
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(10_000);
    // the stream was ended by the server
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) break;
    // nothing is left in its name
    expect(await heldBy(sql, victim.nodeId)).toEqual([]);
    const stopped = victim.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'sundial node stopped');
    expect(stopped?.released).toBe(count);

    await waitFinished(sql, ids, 20_000);
    const runs = (await allRuns(sql)).filter((r) => ids.includes(r.taskId));
    expectExactlyOnce(runs, expected);
    for (const r of runs) {
      expect(r.nodeId).toBe(survivor.nodeId);
      expect(r.attempt).toBe(2);
      expect(r.late).toBe(false);
    }
    // handed back, not rescued after the lease: fired on time, well under the 5 s lease
    const maxLag = Math.max(...runs.map((r) => r.lagMs!));
    expect(maxLag).toBeLessThan(1000);
    console.log(`SIGTERM: exit 0 in ${exitMs} ms, ${count} handed back, fired by the survivor with max lag ${Math.round(maxLag)} ms`);
  });
});
