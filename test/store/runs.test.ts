// The statements that carry the guarantees, called directly against a real PostgreSQL:
// one run per occurrence however claims race, results fenced by owner and attempt,
// handed-back and orphaned runs re-claimed, and the helpers the node uses to find
// runs it owns but does not hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planClaim } from '../../src/server/scheduler/plan.js';
import type { Sql } from '../../src/server/store/db.js';
import { NOTIFY_CHANNEL, notify, parseNotice, type Notice } from '../../src/server/store/notices.js';
import {
  occurrencesClaimDue,
  runsClaimOrphaned,
  runsComplete,
  runsPendingOfNode,
  runsRelease,
  runsReleaseSome,
  runsStillOwned,
  type ClaimedRun,
  type RunResult,
} from '../../src/server/store/runs.js';
import { everySecondTask, onceTasks, registerNode, storeDatabase, type StoreDb } from '../support/store.js';

let s: StoreDb;
beforeAll(async () => {
  s = await storeDatabase();
});
afterAll(async () => {
  await s?.close();
});

const claim = (sql: Sql, nodeId: string, now: Date, limit = 1000, aheadMs = 2000) =>
  occurrencesClaimDue(sql, { nodeId, horizon: new Date(now.getTime() + aheadMs), limit, plan: (t) => planClaim(t, now, 10_000) });

const succeeded = (r: ClaimedRun, at = new Date()): RunResult => ({
  id: r.id, attempt: r.attempt, status: 'succeeded', startedAt: at, finishedAt: at, late: false, reason: null,
});

const runsOf = (sql: Sql, ids: string[]) =>
  sql<{ id: string; taskId: string; status: string; attempt: number; nodeId: string | null }[]>`
    select id, task_id, status, attempt, node_id from runs where task_id = any(${ids}::uuid[]) order by id`;

async function expireLease(sql: Sql, nodeId: string) {
  await sql`update nodes set lease_until = now() - interval '1 s' where id = ${nodeId}`;
}

describe('the claim', () => {
  it('two nodes claiming the same due tasks at once make exactly one run per occurrence', async () => {
    const now = new Date();
    const ids = await onceTasks(s.sql, 3000, now);
    const a = s.other();
    const b = s.other();
    await registerNode(s.sql, 'race-a');
    await registerNode(s.sql, 'race-b');
    // each claims in batches of 500 until nothing is left, both at the same time
    const drain = async (sql: Sql, node: string) => {
      const got: ClaimedRun[] = [];
      for (;;) {
        const r = await claim(sql, node, now, 500);
        got.push(...r.claimed);
        if (r.tasks === 0) return got;
      }
    };
    const [ga, gb] = await Promise.all([drain(a, 'race-a'), drain(b, 'race-b')]);
    expect(ga.length + gb.length).toBe(3000);
    const runs = await runsOf(s.sql, ids);
    expect(runs).toHaveLength(3000);
    expect(new Set(runs.map((r) => r.taskId)).size).toBe(3000);
    const mine = new Set(ga.map((r) => r.id));
    for (const r of runs) expect(r.nodeId).toBe(mine.has(r.id) ? 'race-a' : 'race-b');
    // SKIP LOCKED shares the work instead of serialising it: both got some
    expect(ga.length).toBeGreaterThan(0);
    expect(gb.length).toBeGreaterThan(0);
  });

  it('an occurrence already turned into a run cannot get a second one, even if a task row is put back', async () => {
    const now = new Date();
    const [id] = await onceTasks(s.sql, 1, now);
    const first = await claim(s.sql, 'race-a', now);
    expect(first.claimed.filter((r) => r.taskId === id)).toHaveLength(1);
    // a stale writer restores the task as it was before the claim
    await s.sql`update tasks set next_run_at = run_at, state = 'active' where id = ${id!}`;
    const again = await claim(s.sql, 'race-b', now);
    expect(again.claimed.filter((r) => r.taskId === id)).toHaveLength(0);
    expect(await runsOf(s.sql, [id!])).toHaveLength(1);
  });
});

describe('the fence', () => {
  it("a stale attempt's result is rejected once another node rescued the run; the rescuer's is accepted", async () => {
    const now = new Date();
    const [id] = await onceTasks(s.sql, 1, now);
    await registerNode(s.sql, 'fence-a');
    await registerNode(s.sql, 'fence-b');
    const [mine] = (await claim(s.sql, 'fence-a', now)).claimed.filter((r) => r.taskId === id);
    expect(mine!.attempt).toBe(1);
    // a is frozen past its lease; b rescues the run
    await expireLease(s.sql, 'fence-a');
    const rescued = (await runsClaimOrphaned(s.sql, { nodeId: 'fence-b', horizon: new Date(now.getTime() + 2000), limit: 100, lapsed: true })).filter((r) => r.taskId === id);
    expect(rescued).toHaveLength(1);
    expect(rescued[0]!).toMatchObject({ id: mine!.id, attempt: 2, rescued: true });
    // a wakes up and reports: fenced, the run is no longer a's
    expect(await runsComplete(s.sql, 'fence-a', [succeeded(mine!)])).toEqual([]);
    expect(await runsComplete(s.sql, 'fence-b', [succeeded(rescued[0]!)])).toEqual([mine!.id]);
    // and once recorded, nobody can record it again
    expect(await runsComplete(s.sql, 'fence-b', [succeeded(rescued[0]!)])).toEqual([]);
    const [row] = await runsOf(s.sql, [id!]);
    expect(row).toMatchObject({ status: 'succeeded', attempt: 2, nodeId: 'fence-b' });
  });

  it('without `lapsed`, a node rescues ownerless runs only, never a lapsed node\'s', async () => {
    const now = new Date();
    const [id] = await onceTasks(s.sql, 1, now);
    await registerNode(s.sql, 'grace-a');
    await registerNode(s.sql, 'grace-b');
    const [mine] = (await claim(s.sql, 'grace-a', now)).claimed.filter((r) => r.taskId === id);
    await expireLease(s.sql, 'grace-a');
    const horizon = new Date(now.getTime() + 2000);
    expect((await runsClaimOrphaned(s.sql, { nodeId: 'grace-b', horizon, limit: 100, lapsed: false })).some((r) => r.id === mine!.id)).toBe(false);
    expect((await runsClaimOrphaned(s.sql, { nodeId: 'grace-b', horizon, limit: 100, lapsed: true })).some((r) => r.id === mine!.id)).toBe(true);
  });
});

describe('handing back', () => {
  it('runs handed back by a draining node are re-claimed by another, with the next attempt', async () => {
    const now = new Date(Date.now() + 60_000); // held ahead: not yet due
    const ids = await onceTasks(s.sql, 5, now);
    await registerNode(s.sql, 'drain-a');
    await registerNode(s.sql, 'drain-b');
    const held = (await claim(s.sql, 'drain-a', now)).claimed.filter((r) => ids.includes(r.taskId));
    expect(held).toHaveLength(5);
    expect(await runsRelease(s.sql, 'drain-a')).toBeGreaterThanOrEqual(5);
    // a's lease is valid: what it handed back is ownerless, so no grace applies
    const taken = (await runsClaimOrphaned(s.sql, { nodeId: 'drain-b', horizon: new Date(now.getTime() + 2000), limit: 100, lapsed: false })).filter((r) => ids.includes(r.taskId));
    expect(taken.map((r) => r.id).sort()).toEqual(held.map((r) => r.id).sort());
    expect(taken.every((r) => r.attempt === 2)).toBe(true);
    // a's late result for one of them is fenced
    expect(await runsComplete(s.sql, 'drain-a', [succeeded(held[0]!)])).toEqual([]);
  });

  it('some runs can be released by id (fenced by attempt), and the node finds which it still owns', async () => {
    const now = new Date(Date.now() + 120_000);
    const ids = await onceTasks(s.sql, 4, now);
    await registerNode(s.sql, 'some-a');
    const held = (await claim(s.sql, 'some-a', now)).claimed.filter((r) => ids.includes(r.taskId));
    const [r0, r1, r2, r3] = held;
    const released = await runsReleaseSome(s.sql, 'some-a', [
      { id: r0!.id, attempt: r0!.attempt },
      { id: r1!.id, attempt: r1!.attempt + 1 }, // a stale attempt: not released
    ]);
    expect([...released]).toEqual([r0!.id]);
    const owned = await runsStillOwned(s.sql, 'some-a', held.map((r) => ({ id: r.id, attempt: r.attempt })));
    expect([...owned].sort()).toEqual([r1!.id, r2!.id, r3!.id].sort());
    const pending = (await runsPendingOfNode(s.sql, 'some-a')).filter((r) => ids.includes(r.taskId));
    expect(pending.map((r) => r.id).sort()).toEqual([r1!.id, r2!.id, r3!.id].sort());
    expect(pending[0]).toMatchObject({ actionType: 'log', kind: 'once', rescued: false });
  });
});

describe('misfires at the claim', () => {
  it('a recurring task missed for a minute is recorded once per occurrence and fires once, late', async () => {
    const now = new Date();
    const from = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
    const id = await everySecondTask(s.sql, from);
    const r = await claim(s.sql, 'misfire-a', now, 10);
    const runs = await s.sql<{ status: string; late: boolean }[]>`select status, late from runs where task_id = ${id}`;
    expect(runs.filter((x) => x.status === 'pending')).toHaveLength(1);
    expect(runs.filter((x) => x.status === 'pending')[0]!.late).toBe(true);
    expect(runs.filter((x) => x.status === 'skipped').length).toBeGreaterThanOrEqual(49);
    expect(r.claimed.filter((x) => x.taskId === id)).toHaveLength(1);
  });
});

describe('notices', () => {
  it('notify inside a transaction reaches a listener at commit, parsed back into the same notice; a rollback sends nothing', async () => {
    const got: Notice[] = [];
    const listener = await s.sql.listen(NOTIFY_CHANNEL, (p) => {
      const n = parseNotice(p);
      if (n) got.push(n);
    });
    try {
      await s.sql.begin(async (tx) => {
        await notify(tx, { t: 'task', id: 'x', change: 'paused', cancelled: true });
      });
      await s.sql
        .begin(async (tx) => {
          await notify(tx, { t: 'wake' });
          throw new Error('roll back');
        })
        .catch(() => {});
      await s.sql.begin(async (tx) => notify(tx, { t: 'runs', node: 'n', count: 2 }));
      const deadline = Date.now() + 5000;
      while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got).toEqual([
        { t: 'task', id: 'x', change: 'paused', cancelled: true },
        { t: 'runs', node: 'n', count: 2 },
      ]);
    } finally {
      await listener.unlisten();
    }
  });
});
