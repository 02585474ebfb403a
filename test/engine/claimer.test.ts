// The claimer and the heartbeat on a ManualClock against a real PostgreSQL: claim-ahead
// shared between nodes, a joining node given its share, a claim whose COMMIT landed
// while its connection broke adopted afterwards, a freeze past the lease confirmed
// before anything overdue fires, and no rescue of other nodes right after an outage.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSchedulerConfig, type SchedulerConfig } from '../../src/server/config.js';
import { createMetrics } from '../../src/server/metrics.js';
import { Claimer, type LeaseView } from '../../src/server/scheduler/claimer.js';
import { Executor } from '../../src/server/scheduler/executor.js';
import { Heartbeat } from '../../src/server/scheduler/heartbeat.js';
import { InFlight } from '../../src/server/scheduler/service.js';
import type { Sql } from '../../src/server/store/db.js';
import { runsClaimOrphaned, runsComplete, type RunResult } from '../../src/server/store/runs.js';
import { taskDelete } from '../../src/server/store/tasks.js';
import { ManualClock } from '../../src/server/time/clock.js';
import { startPgProxy } from '../support/pg-proxy.js';
import { onceTasks, registerNode, storeDatabase, type StoreDb } from '../support/store.js';

let s: StoreDb;
beforeAll(async () => {
  s = await storeDatabase();
});
afterAll(async () => {
  await s?.close();
});

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function engineNode(opts: { sql: Sql; nodeId: string; clock: ManualClock; lease?: LeaseView; config?: Partial<SchedulerConfig> }) {
  const config: SchedulerConfig = { ...defaultSchedulerConfig, claimBatchSize: 50, ...opts.config };
  const inFlight = new InFlight();
  const results: RunResult[] = [];
  const metrics = createMetrics();
  const executor = new Executor({
    clock: opts.clock,
    recorder: { add: (r) => (results.push(r), inFlight.close(r.id)) },
    inFlight,
    metrics,
    log,
    misfireThresholdMs: config.misfireThresholdMs,
  });
  const claimer = new Claimer({ sql: opts.sql, nodeId: opts.nodeId, config, clock: opts.clock, executor, inFlight, metrics, log, lease: opts.lease });
  executor.start();
  return { executor, claimer, results, inFlight, config };
}

const idsOfTask = async (sql: Sql, taskIds: string[]) =>
  sql<{ nodeId: string | null; n: string }[]>`
    select node_id, count(*) as n from runs where task_id = any(${taskIds}::uuid[]) and status = 'pending' group by node_id`;

describe('claim-ahead', () => {
  it('two nodes each claim their share of what is due within the horizon, not all of it', async () => {
    const clock = new ManualClock(Date.now());
    const due = new Date(clock.now().getTime() + 20_000); // beyond the 2 s lookahead, inside the 45 s horizon
    const tasks = await onceTasks(s.sql, 400, due);
    await registerNode(s.sql, 'share-a');
    await registerNode(s.sql, 'share-b');
    const views = { a: { liveNodes: 2, othersHeld: 0 }, b: { liveNodes: 2, othersHeld: 0 } };
    const a = engineNode({ sql: s.sql, nodeId: 'share-a', clock, lease: { mayRescue: () => true, cluster: views.a } });
    const b = engineNode({ sql: s.sql, nodeId: 'share-b', clock, lease: { mayRescue: () => true, cluster: views.b } });
    a.claimer.start();
    await a.claimer.idle();
    expect(a.executor.held).toBe(200);
    views.b.othersHeld = a.executor.held;
    b.claimer.start();
    await b.claimer.idle();
    expect(b.executor.held).toBe(200);
    const byNode = Object.fromEntries((await idsOfTask(s.sql, tasks)).map((r) => [r.nodeId, Number(r.n)]));
    expect(byNode).toEqual({ 'share-a': 200, 'share-b': 200 });
    // held until their instant, then each fires once from memory
    clock.advance(20_000);
    expect(a.results.length + b.results.length).toBe(400);
    expect(a.results.every((r) => r.startedAt!.getTime() === due.getTime())).toBe(true);
    await a.claimer.stop();
    await b.claimer.stop();
  });

  it('a node holding everything hands the latest half back when a second node joins, and the newcomer takes it', async () => {
    const clock = new ManualClock(Date.now());
    const base = clock.now().getTime() + 10_000;
    const tasks: string[] = [];
    for (let i = 0; i < 10; i++) tasks.push(...(await onceTasks(s.sql, 40, new Date(base + i * 2000))));
    await registerNode(s.sql, 'join-a');
    await registerNode(s.sql, 'join-b');
    const viewA = { liveNodes: 1, othersHeld: 0 };
    const a = engineNode({ sql: s.sql, nodeId: 'join-a', clock, lease: { mayRescue: () => true, cluster: viewA } });
    a.claimer.start();
    await a.claimer.idle();
    expect(a.executor.held).toBe(400);
    // b joins: a sees two live nodes at its next heartbeat
    viewA.liveNodes = 2;
    a.claimer.wake();
    await a.claimer.idle();
    expect(a.executor.held).toBe(200);
    const b = engineNode({ sql: s.sql, nodeId: 'join-b', clock, lease: { mayRescue: () => true, cluster: { liveNodes: 2, othersHeld: 200 } } });
    b.claimer.start();
    await b.claimer.idle();
    expect(b.executor.held).toBe(200);
    // a kept the earliest: what it handed back is the latest
    const latestOfA = Math.max(...a.executor.heldRuns().map((r) => Number(r.id)));
    expect(Math.min(...b.executor.heldRuns().map((r) => Number(r.id)))).toBeGreaterThan(0);
    expect(latestOfA).toBeGreaterThan(0);
    clock.advance(40_000);
    const fired = [...a.results, ...b.results];
    expect(fired).toHaveLength(400);
    expect(new Set(fired.map((r) => r.id)).size).toBe(400);
    await a.claimer.stop();
    await b.claimer.stop();
  });

  it('the byte cap bounds what is held, whatever the count cap allows', async () => {
    const clock = new ManualClock(Date.now());
    await onceTasks(s.sql, 300, new Date(clock.now().getTime() + 15_000));
    await registerNode(s.sql, 'bytes-a');
    const a = engineNode({ sql: s.sql, nodeId: 'bytes-a', clock, config: { maxInFlightBytes: 50 * 1024 } });
    a.claimer.start();
    await a.claimer.idle();
    // one batch may overshoot by what its rows brought beyond the estimate
    expect(a.inFlight.bytes).toBeLessThanOrEqual(50 * 1024 + 50 * 400);
    expect(a.executor.held).toBeGreaterThan(0);
    expect(a.executor.held).toBeLessThan(300);
    await a.claimer.stop();
    clock.advance(20_000);
  });
});

describe('claimed by a create, cancelled before it is held', () => {
  it('drops a run whose task was deleted or rescheduled between the create\'s commit and the hold, and fires the others', async () => {
    const clock = new ManualClock(Date.now());
    const due = new Date(clock.now().getTime() + 20_000); // inside the horizon: claimed by the create
    await registerNode(s.sql, 'create-hold');
    const n = engineNode({ sql: s.sql, nodeId: 'create-hold', clock });
    n.claimer.start();
    await n.claimer.idle();
    const before = n.executor.held; // what earlier tests left due
    const [kept, deleted, rescheduled] = await onceTasks(s.sql, 3, due);
    // the create's own claim, in its transaction
    const runs = await s.sql.begin((tx) => n.claimer.claimCreated(tx, [kept!, deleted!, rescheduled!]));
    expect(runs).toHaveLength(3);
    // committed after the create and before the node held the runs: their notices (the
    // only other way the node hears of it) found nothing to drop; this node gets none
    expect(await taskDelete(s.sql, deleted!)).toBe(true);
    await s.sql`delete from runs where task_id = ${rescheduled!}`; // a new schedule removes what was claimed ahead
    n.claimer.holdCreated(runs);
    expect(n.executor.held).toBe(before + 3);
    await n.claimer.idle();
    expect(n.executor.held).toBe(before + 1);
    clock.advance(20_000);
    const mine = new Set(runs.map((r) => r.id));
    expect(n.results.filter((r) => mine.has(r.id)).map((r) => r.id)).toEqual(runs.filter((r) => r.taskId === kept).map((r) => r.id));
    await n.claimer.stop();
  });
});

describe('ambiguous commit', () => {
  it('a claim whose COMMIT landed while the connection broke is found and adopted on the next round, and fires once', async () => {
    const proxy = await startPgProxy(s.db.url);
    const viaProxy = s.other({ url: proxy.url, prepare: false });
    try {
      const clock = new ManualClock(Date.now());
      const due = new Date(clock.now().getTime() + 1000);
      const tasks = await onceTasks(s.sql, 30, due);
      await registerNode(s.sql, 'cut-a');
      const a = engineNode({ sql: viaProxy, nodeId: 'cut-a', clock, config: { claimAheadMs: 0 } });
      const cut = proxy.cutAtNextCommit();
      a.claimer.start();
      await cut;
      await a.claimer.idle();
      // committed: the database says cut-a owns them, but cut-a never heard so
      const owned = await idsOfTask(s.sql, tasks);
      expect(owned).toEqual([{ nodeId: 'cut-a', n: '30' }]);
      expect(a.executor.held).toBe(0);
      // the next round (after the claim back-off) reconciles
      clock.advance(2000);
      await a.claimer.idle();
      clock.advance(0);
      const fired = a.results.filter((r) => r.status === 'succeeded');
      expect(new Set(fired.map((r) => r.id)).size).toBe(30);
      expect(fired).toHaveLength(30);
      await a.claimer.stop();
    } finally {
      await proxy.close();
    }
  });
});

describe('leases across an outage and a freeze', () => {
  it('after the database comes back, other nodes\' lapsed runs are not rescued for one lease', async () => {
    const proxy = await startPgProxy(s.db.url);
    const viaProxy = s.other({ url: proxy.url });
    try {
      const clock = new ManualClock(Date.now());
      await registerNode(s.sql, 'grace-hb');
      const hb = new Heartbeat({ sql: viaProxy, nodeId: 'grace-hb', clock, heartbeatMs: 1000, leaseMs: 5000, metrics: createMetrics(), log });
      hb.start();
      await hb.beatNow();
      expect(hb.mayRescue()).toBe(true);
      proxy.down();
      await hb.beatNow();
      expect(hb.mayRescue()).toBe(false);
      proxy.up();
      await hb.beatNow();
      expect(hb.mayRescue()).toBe(false);
      clock.advance(4900);
      await hb.beatNow();
      expect(hb.mayRescue()).toBe(false);
      clock.advance(200);
      expect(hb.mayRescue()).toBe(true);
      await hb.stop();
      expect(clock.pendingTimers).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('a node frozen past its lease fires nothing overdue until its lease is confirmed, and drops what others rescued meanwhile', async () => {
    const clock = new ManualClock(Date.now());
    await registerNode(s.sql, 'frozen-a');
    await registerNode(s.sql, 'rescuer-b');
    const due = new Date(clock.now().getTime() + 1500);
    const tasks = await onceTasks(s.sql, 10, due);
    const inFlight = new InFlight();
    const results: RunResult[] = [];
    const metrics = createMetrics();
    let claimer: Claimer | undefined;
    const hb = new Heartbeat({
      sql: s.sql, nodeId: 'frozen-a', clock, heartbeatMs: 1000, leaseMs: 5000, metrics, log,
      onLeaseLapsed: async () => void (await claimer!.dropLost()),
    });
    const executor = new Executor({ clock, recorder: { add: (r) => results.push(r) }, inFlight, metrics, log, misfireThresholdMs: 10_000, gate: hb });
    claimer = new Claimer({ sql: s.sql, nodeId: 'frozen-a', config: { ...defaultSchedulerConfig, claimAheadMs: 0 }, clock, executor, inFlight, metrics, log, lease: hb });
    hb.start();
    await hb.beatNow();
    executor.start();
    claimer.start();
    await claimer.idle();
    expect(executor.held).toBe(10);
    await claimer.stop();
    // frozen for 8 s; meanwhile its lease lapsed and another node rescued three runs
    clock.freeze(8000);
    await s.sql`update nodes set lease_until = now() - interval '1 s' where id = 'frozen-a'`;
    await s.sql`
      update runs set node_id = 'rescuer-b', attempt = attempt + 1
      where id in (select id from runs where task_id = any(${tasks}::uuid[]) order by id limit 3)`;
    clock.advance(0);
    expect(results).toHaveLength(0); // the gate is closed: nothing overdue fires
    await hb.beatNow(); // the confirming beat finds the lease had lapsed and checks what is held
    clock.advance(0);
    expect(results).toHaveLength(7);
    expect(executor.held).toBe(0);
    await executor.stop();
    await hb.stop();
  });
});

describe('leases after an outage: no rescue of a live node', () => {
  it('the first beat after the database is back renews the leases that were valid when this node lost it, not older ones', async () => {
    const proxy = await startPgProxy(s.db.url);
    const viaProxy = s.other({ url: proxy.url });
    try {
      const clock = new ManualClock(Date.now());
      await registerNode(s.sql, 'renew-a');
      await registerNode(s.sql, 'renew-slow');
      await registerNode(s.sql, 'renew-dead');
      // dead long before the outage: its lease stays lapsed, and its runs may be rescued
      await s.sql`update nodes set lease_until = now() - interval '1 hour' where id = 'renew-dead'`;
      const hb = new Heartbeat({ sql: viaProxy, nodeId: 'renew-a', clock, heartbeatMs: 1000, leaseMs: 5000, metrics: createMetrics(), log });
      await hb.start();
      proxy.down();
      clock.advance(1000);
      await hb.beatNow();
      // the outage outlasts every lease: renew-slow has not checked in since it began
      await s.sql`update nodes set lease_until = now() - interval '2 s' where id = 'renew-slow'`;
      proxy.up();
      await hb.beatNow();
      const rows = await s.sql<{ id: string; valid: boolean }[]>`
        select id, lease_until > now() + interval '4 s' as valid from nodes where id like 'renew-%' order by id`;
      expect(Object.fromEntries(rows.map((r) => [r.id, r.valid]))).toEqual({ 'renew-a': true, 'renew-dead': false, 'renew-slow': true });
      await hb.stop();
    } finally {
      await proxy.close();
    }
  });

  it('a node never rescues its own lapsed runs, and a run rescued back to it keeps the result it buffered', async () => {
    const clock = new ManualClock(Date.now());
    await registerNode(s.sql, 'self-a');
    await registerNode(s.sql, 'self-b');
    const due = new Date(clock.now().getTime() + 1000);
    const tasks = await onceTasks(s.sql, 4, due);
    const a = engineNode({ sql: s.sql, nodeId: 'self-a', clock, config: { claimAheadMs: 0 } });
    a.claimer.start();
    await a.claimer.idle();
    expect(a.executor.held).toBe(4);
    await a.claimer.stop();
    const held = a.executor.heldRuns();
    // a's lease lapsed (an outage): its own rescue must leave its runs alone
    await s.sql`update nodes set lease_until = now() - interval '1 s' where id = 'self-a'`;
    const own = await runsClaimOrphaned(s.sql, { nodeId: 'self-a', horizon: new Date(due.getTime() + 60_000), limit: 100, lapsed: true });
    expect(own.filter((r) => tasks.includes(r.taskId))).toHaveLength(0);
    // b took one over, then its lease lapsed too and a took it back (attempt 3)
    const [one] = held;
    await s.sql`update runs set node_id = 'self-b', attempt = attempt + 1 where id = ${one!.id}`;
    await s.sql`update nodes set lease_until = now() - interval '1 s' where id = 'self-b'`;
    // a rescues only on its own valid lease
    expect(await runsClaimOrphaned(s.sql, { nodeId: 'self-a', horizon: new Date(due.getTime() + 60_000), limit: 100, lapsed: true })).toEqual([]);
    await s.sql`update nodes set lease_until = now() + interval '5 s' where id = 'self-a'`;
    const back = await runsClaimOrphaned(s.sql, { nodeId: 'self-a', horizon: new Date(due.getTime() + 60_000), limit: 100, lapsed: true });
    expect(back.map((r) => [r.id, r.attempt])).toEqual([[one!.id, 3]]);
    // what a fired and buffered at attempt 1 is accepted: a owns the run, and executed it once
    clock.advance(1000);
    expect(a.results).toHaveLength(4);
    const accepted = await runsComplete(s.sql, 'self-a', a.results);
    expect(new Set(accepted)).toEqual(new Set(held.map((r) => r.id)));
    // b's late result for its attempt 2 is fenced
    const late = { ...a.results.find((r) => r.id === one!.id)!, attempt: 2 };
    expect(await runsComplete(s.sql, 'self-b', [late])).toEqual([]);
    await a.executor.stop();
  });

  it('a result fenced by a rescue makes the node adopt its own pending runs that it does not hold', async () => {
    const clock = new ManualClock(Date.now());
    await registerNode(s.sql, 'adopt-a');
    const due = new Date(clock.now().getTime() + 1000);
    const tasks = await onceTasks(s.sql, 3, due);
    const a = engineNode({ sql: s.sql, nodeId: 'adopt-a', clock, config: { claimAheadMs: 0 } });
    a.claimer.start();
    await a.claimer.idle();
    expect(a.executor.held).toBe(3);
    // the database says a owns a run it does not hold (it was dropped as lost, then came back)
    const [lost] = a.executor.heldRuns();
    a.executor.forget(new Set([lost!.id]));
    expect(a.executor.held).toBe(2);
    a.claimer.requestReconcile();
    await a.claimer.idle();
    expect(a.executor.held).toBe(3);
    clock.advance(1000);
    expect(a.results.map((r) => r.id).sort()).toEqual((await idsPending(s.sql, tasks)).sort());
    await a.claimer.stop();
    await a.executor.stop();
  });
});

const idsPending = async (sql: Sql, taskIds: string[]) =>
  (await sql<{ id: string }[]>`select id from runs where task_id = any(${taskIds}::uuid[]) and status = 'pending'`).map((r) => r.id);
