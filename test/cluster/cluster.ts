// Shared pieces of the cluster tests: real node processes (test/support/node.ts), the
// runs table read directly with postgres.js, and the checks every scenario makes
// (one run per occurrence, none missing, lag).
import postgres from 'postgres';
import { afterAll, expect } from 'vitest';
import { api, startNode, type TestNode } from '../support/node.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

export type Sql = postgres.Sql;

export interface RunRow {
  id: string;
  taskId: string;
  taskName: string;
  scheduledFor: Date;
  trigger: string;
  status: string;
  reason: string | null;
  late: boolean;
  attempt: number;
  nodeId: string | null;
  claimedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** started_at − scheduled_for, ms (null if not started) */
  lagMs: number | null;
}

export function openDb(url: string): Sql {
  return postgres(url, { max: 2, onnotice: () => {}, transform: { column: { from: postgres.toCamel } } });
}

export async function allRuns(sql: Sql): Promise<RunRow[]> {
  const rows = await sql<RunRow[]>`
    select r.*, t.name as task_name,
           (extract(epoch from r.started_at - r.scheduled_for) * 1000)::float8 as lag_ms
    from runs r join tasks t on t.id = r.task_id
    order by r.scheduled_for, r.id`;
  return rows.map((r) => ({ ...r, lagMs: r.lagMs === null ? null : Number(r.lagMs) }));
}

/** Runs a node holds (claimed, not yet recorded) according to the database. */
export async function heldBy(sql: Sql, nodeId: string): Promise<RunRow[]> {
  return sql<RunRow[]>`
    select r.*, t.name as task_name from runs r join tasks t on t.id = r.task_id
    where r.node_id = ${nodeId} and r.status in ('pending', 'running') order by r.scheduled_for`;
}

/** Every node this test started, so a failing test still leaves no process behind. */
const started = new Set<TestNode>();

const byUrl = new Map<string, TestNode>();

/**
 * A node for a cluster scenario. The scenarios pin who holds what through the lookahead
 * (a victim that claims further ahead than the survivor), so claim-ahead is off unless
 * a scenario turns it on (the failover and outage tests do).
 */
export async function node(opts: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const n = await startNode({ ...opts, env: { SUNDIAL_CLAIM_AHEAD_MS: '0', ...opts.env } });
  started.add(n);
  byUrl.set(n.url, n);
  void n.exited.then(() => started.delete(n));
  return n;
}

/** What the test file opened, closed after it (nodes first, then connections, then databases). */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  await killAllNodes();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh database for a cluster test, and a connection to read its runs; both go after the file. */
export async function freshDatabase(): Promise<{ db: TestDatabase; sql: Sql }> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const sql = openDb(db.url);
  cleanups.push(() => sql.end());
  return { db, sql };
}

export async function killAllNodes(): Promise<void> {
  const all = [...started];
  for (const n of all) {
    n.kill('SIGCONT');
    n.kill('SIGKILL');
  }
  await Promise.all(all.map((n) => n.exited));
}

export function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** The error lines a node logged, to explain an unexpected 500. */
function nodeErrors(base: string): string {
  const lines = byUrl.get(base)?.logs.filter((l) => /"level":(50|60)/.test(l)) ?? [];
  return lines.length ? `\nnode log:\n${lines.slice(-3).join('\n')}` : '';
}

export async function createOnce(base: string, name: string, at: Date, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api(base, 'POST', '/api/tasks', { name, schedule: { type: 'once', at: at.toISOString() }, ...extra });
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}${nodeErrors(base)}`);
  return res.body.id as string;
}

export async function createCron(
  base: string,
  name: string,
  expression: string,
  opts: { startAt?: Date; endAt?: Date; misfirePolicy?: 'fire_once' | 'skip' } = {},
): Promise<string> {
  const res = await api(base, 'POST', '/api/tasks', {
    name,
    schedule: { type: 'cron', expression, startAt: opts.startAt?.toISOString(), endAt: opts.endAt?.toISOString() },
    ...(opts.misfirePolicy ? { misfirePolicy: opts.misfirePolicy } : {}),
  });
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}${nodeErrors(base)}`);
  // created after its start: the first expected occurrence is gone, and a test would
  // report the machine's slowness as a lost occurrence
  if (opts.startAt && Date.now() >= opts.startAt.getTime()) throw new Error(`${name} was created after its startAt: the machine is too busy`);
  return res.body.id as string;
}

/** The next whole second at least `ms` from now. */
export function wholeSecondIn(ms: number): Date {
  return new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
}

/** Whole-second instants from `from` to `to`, both included. */
export function everySecond(from: Date, to: Date): number[] {
  const out: number[] = [];
  for (let t = from.getTime(); t <= to.getTime(); t += 1000) out.push(t);
  return out;
}

/**
 * The exactly-once check: for each task, the scheduled instants of its runs are
 * exactly `expected` (no gap, no extra), each has one row, and each of those rows
 * succeeded (unless `allow` says otherwise for it).
 */
export function expectExactlyOnce(runs: RunRow[], expected: Map<string, number[]>) {
  const byTask = new Map<string, RunRow[]>();
  for (const r of runs) {
    if (r.trigger !== 'schedule') continue;
    byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r]);
  }
  const problems: string[] = [];
  for (const [taskId, times] of expected) {
    const rows = byTask.get(taskId) ?? [];
    const seen = new Map<number, RunRow[]>();
    for (const r of rows) seen.set(r.scheduledFor.getTime(), [...(seen.get(r.scheduledFor.getTime()) ?? []), r]);
    for (const t of times) {
      const at = seen.get(t) ?? [];
      const ok = at.filter((r) => r.status === 'succeeded');
      if (ok.length !== 1) {
        // the neighbours tell a gap in the schedule from a claim that never happened
        const near = rows.filter((r) => Math.abs(r.scheduledFor.getTime() - t) <= 2000);
        problems.push(
          `${rows[0]?.taskName ?? taskId} @ ${new Date(t).toISOString()}: ${ok.length} succeeded of ${at.length} rows (${at.map((r) => r.status).join(',')}); ` +
            `near: ${near.map((r) => `${r.scheduledFor.toISOString().slice(11, 23)} ${r.status} ${r.nodeId} a${r.attempt} claimed ${r.claimedAt?.toISOString().slice(11, 23)}`).join(' | ')}`,
        );
      }
    }
    const extra = [...seen.keys()].filter((t) => !times.includes(t));
    if (extra.length) problems.push(`${rows[0]?.taskName ?? taskId}: unexpected occurrences ${extra.map((t) => new Date(t).toISOString()).join(', ')}`);
  }
  expect(problems, problems.slice(0, 20).join('\n')).toEqual([]);
}

export async function cluster(base: string) {
  const res = await api(base, 'GET', '/api/cluster');
  return res.body as { nodes: { id: string; alive: boolean; firedLastMinute: number; self: boolean }[] };
}

export async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * A survivor with the default lookahead and a victim that claims 5 s ahead: tasks due
 * 6–7 s from now are claimed (held on timers) by the victim alone. Resolves once the
 * database shows every one of them pending and owned by the victim.
 */
export async function victimHolding(sql: Sql, survivor: TestNode, victim: TestNode, count: number) {
  // due 6.2–7 s out: inside the victim's 5 s lookahead within ~2 s, outside the
  // survivor's 2 s for 4 s, which leaves a busy machine time to claim
  const base = Date.now() + 6200;
  const at = Array.from({ length: count }, (_, i) => new Date(base + Math.round((i * 800) / count)));
  const ids = await pool(at, 8, (t, i) => createOnce(i % 2 ? survivor.url : victim.url, `held-${i}`, t));
  const deadline = Date.now() + 4000;
  let held: RunRow[] = [];
  while (Date.now() < deadline) {
    held = await heldBy(sql, victim.nodeId);
    if (held.filter((r) => ids.includes(r.taskId)).length >= count) break;
    await sleep(50);
  }
  const mine = held.filter((r) => ids.includes(r.taskId));
  if (mine.length !== count) {
    const rows = await sql<{ name: string; nextRunAt: Date | null; state: string; nodeId: string | null; status: string | null }[]>`
      select t.name, t.next_run_at, t.state, r.node_id, r.status from tasks t left join runs r on r.task_id = t.id
      where t.id = any(${ids}::uuid[]) and (r.node_id is distinct from ${victim.nodeId})`;
    throw new Error(`the victim claimed ${mine.length} of ${count} tasks in 4 s; the others: ${JSON.stringify(rows)} (now ${new Date().toISOString()})`);
  }
  expect(mine.every((r) => r.status === 'pending' && r.attempt === 1)).toBe(true);
  // still in the future: the fault hits while they are held, not after they fired
  expect(Math.min(...mine.map((r) => r.scheduledFor.getTime()))).toBeGreaterThan(Date.now() + 500);
  return { ids, at, expected: new Map(ids.map((id, i) => [id, [at[i]!.getTime()]])) };
}

/** Polls until every given task has a finished run (or the timeout passes). */
export async function waitFinished(sql: Sql, taskIds: string[], timeoutMs = 30_000): Promise<RunRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = (await allRuns(sql)).filter((r) => taskIds.includes(r.taskId));
    const done = new Set(runs.filter((r) => r.finishedAt).map((r) => r.taskId));
    if (done.size >= taskIds.length || Date.now() > deadline) return runs;
    await sleep(100);
  }
}
