// A task created within the claim-ahead horizon of its time is claimed by the node that
// creates it, in the creating transaction: it is held from the moment its create
// commits, so it fires on time even if the database goes away right after, before any
// claimer poll could have found it. The node's claimer polls only every ten minutes
// here, and the tasks are due beyond the 2 s lookahead (no wake-up), so nothing but the
// create itself can have claimed them.
import { afterAll, describe, expect, it } from 'vitest';
import { api, eventually } from '../support/node.js';
import { startPgProxy, type PgProxy } from '../support/pg-proxy.js';
import { allRuns, createOnce, freshDatabase, killAllNodes, node, sleep } from './cluster.js';

let proxy: PgProxy | undefined;
afterAll(async () => {
  await killAllNodes();
  await proxy?.close();
});

describe('claim in the creating transaction', () => {
  it('holds new tasks due within the horizon from their commit, and fires them on time through an outage right after', { timeout: 90_000 }, async () => {
    const { db, sql } = await freshDatabase();
    proxy = await startPgProxy(db.url);
    const n = await node({ databaseUrl: proxy.url, env: { SUNDIAL_CLAIM_AHEAD_MS: '45000', SUNDIAL_POLL_INTERVAL_MS: '600000' } });
    const at = new Date(Date.now() + 7000);
    const later = new Date(Date.now() + 120_000); // beyond the horizon: left to the claimer

    const single = await createOnce(n.url, 'single', at, { action: { type: 'log' } });
    const batch = await api(n.url, 'POST', '/api/tasks/batch', {
      tasks: [
        { name: 'batch-keyed', key: 'user-1/soon', schedule: { type: 'once', at: at.toISOString() } },
        { name: 'batch-plain', schedule: { type: 'once', at: at.toISOString() } },
        { name: 'batch-later', schedule: { type: 'once', at: later.toISOString() } },
      ],
    });
    expect(batch.status).toBe(201);
    const put = await api(n.url, 'PUT', '/api/tasks/by-key/user-2/soon', { name: 'put', schedule: { type: 'once', at: at.toISOString() } });
    expect(put.status).toBe(201);
    const soonIds = [single, batch.body.items[0].id, batch.body.items[1].id, put.body.id as string];
    const laterId = batch.body.items[2].id as string;

    // claimed by the create itself: pending, owned by the node, the task moved on
    const claimed = await sql<{ taskId: string; nodeId: string; status: string }[]>`
      select task_id, node_id, status from runs where task_id = any(${[...soonIds, laterId]}::uuid[])`;
    expect(claimed.map((r) => r.taskId).sort()).toEqual([...soonIds].sort());
    expect(claimed.every((r) => r.nodeId === n.nodeId && r.status === 'pending')).toBe(true);
    const [{ unmoved }] = await sql<{ unmoved: string }[]>`
      select count(*) as unmoved from tasks where id = any(${soonIds}::uuid[]) and next_run_at is not null`;
    expect(Number(unmoved)).toBe(0);

    // the database goes away before the tasks are due and comes back after
    proxy.down();
    await sleep(at.getTime() + 1500 - Date.now());
    const upAt = Date.now();
    proxy.up();
    const runs = await eventually(async () => {
      const rs = (await allRuns(sql)).filter((r) => soonIds.includes(r.taskId));
      return rs.length === soonIds.length && rs.every((r) => r.status === 'succeeded') ? rs : undefined;
    }, 30_000);
    for (const r of runs) {
      expect(r.attempt, `${r.taskName} was taken over`).toBe(1);
      expect(r.startedAt!.getTime(), `${r.taskName} fired after the database was back`).toBeLessThan(upAt);
      expect(r.lagMs!, `${r.taskName} lag`).toBeLessThan(1000);
    }
    expect((await allRuns(sql)).filter((r) => r.taskId === laterId)).toHaveLength(0);
  });

  it('a create whose COMMIT landed while its connection broke is adopted and fires once', { timeout: 60_000 }, async () => {
    const { db, sql } = await freshDatabase();
    const cut = await startPgProxy(db.url);
    try {
      const n = await node({ databaseUrl: cut.url, env: { SUNDIAL_CLAIM_AHEAD_MS: '45000', SUNDIAL_POLL_INTERVAL_MS: '600000' } });
      // The cut takes the next COMMIT on any of the node's connections: if another one's
      // (a housekeeping pass) came first, the create answered 201 and is tried again.
      let res: Awaited<ReturnType<typeof api>> | undefined;
      let name = '';
      for (let attempt = 0; attempt < 3 && (!res || res.status < 500); attempt++) {
        name = `ambiguous-${attempt}`;
        const cutDone = cut.cutAtNextCommit();
        res = await api(n.url, 'POST', '/api/tasks', { name, schedule: { type: 'once', at: new Date(Date.now() + 6000).toISOString() } });
        await cutDone;
      }
      // the client got no 201, yet the task and its claimed run are in the database
      expect(res!.status).toBeGreaterThanOrEqual(500);
      const [task] = await sql<{ id: string }[]>`select id from tasks where name = ${name}`;
      expect(task).toBeDefined();
      const [run] = await eventually(async () => {
        const rs = (await allRuns(sql)).filter((r) => r.taskId === task!.id && r.status === 'succeeded');
        return rs.length ? rs : undefined;
      }, 30_000);
      expect(run!.nodeId).toBe(n.nodeId);
      expect(run!.attempt).toBe(1);
      expect(run!.lagMs!).toBeLessThan(1000);
      expect((await allRuns(sql)).filter((r) => r.taskId === task!.id)).toHaveLength(1);
    } finally {
      await cut.close();
    }
  });
});
