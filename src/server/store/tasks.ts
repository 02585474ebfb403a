// Every SQL statement about tasks. Functions are named entity + verb.
import type { Sql } from './db.js';
import type { Action, TaskChangeKind } from '../../shared/schemas.js';
import { notify } from './notices.js';

export type TaskKind = 'once' | 'cron';
export type TaskStateRow = 'active' | 'paused' | 'completed' | 'deleted';

export interface TaskRow {
  id: string;
  name: string;
  kind: TaskKind;
  runAt: Date | null;
  cronExpression: string | null;
  timezone: string;
  startAt: Date | null;
  endAt: Date | null;
  payload: unknown;
  action: Action;
  misfirePolicy: 'fire_once' | 'skip';
  overlapPolicy: 'allow' | 'skip';
  state: TaskStateRow;
  nextRunAt: Date | null;
  version: number;
  idempotencyKey: string | null;
  idempotencyHash: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface LastRunRow {
  lastRunId: string | null;
  lastRunStatus: string | null;
  lastRunScheduledFor: Date | null;
  lastRunStartedAt: Date | null;
}

export type TaskWithLastRun = TaskRow & LastRunRow;

/** What a create stores: the row minus what PostgreSQL assigns. */
export type TaskInsert = Omit<TaskRow, 'id' | 'version' | 'createdAt' | 'updatedAt'>;

const LAST_RUN = (sql: Sql) => sql`
  left join lateral (
    select r.id as last_run_id, r.status as last_run_status,
           r.scheduled_for as last_run_scheduled_for, r.started_at as last_run_started_at
    -- the latest run that happened: occurrences claimed ahead (pending) are not runs yet
    from runs r where r.task_id = t.id and r.status <> 'pending'
    order by r.scheduled_for desc, r.id desc limit 1
  ) lr on true`;

/** Inserts, or returns the task already created under the same idempotency key (created=false). */
export async function taskInsert(sql: Sql, t: TaskInsert, wake: boolean): Promise<{ task: TaskRow; created: boolean }> {
  return sql.begin(async (tx) => {
    const rows = await tx<TaskRow[]>`
      insert into tasks (name, kind, run_at, cron_expression, timezone, start_at, end_at, payload,
                         action, misfire_policy, overlap_policy, state, next_run_at, idempotency_key, idempotency_hash)
      values (${t.name}, ${t.kind}, ${t.runAt}, ${t.cronExpression}, ${t.timezone}, ${t.startAt}, ${t.endAt},
              ${tx.json(t.payload as never)}, ${tx.json(t.action as never)}, ${t.misfirePolicy}, ${t.overlapPolicy}, ${t.state},
              ${t.nextRunAt}, ${t.idempotencyKey}, ${t.idempotencyHash})
      on conflict (idempotency_key) do nothing
      returning *`;
    if (rows[0]) {
      await notify(tx, { t: 'task', id: rows[0].id, change: 'created', wake });
      return { task: rows[0], created: true };
    }
    const [existing] = await tx<TaskRow[]>`select * from tasks where idempotency_key = ${t.idempotencyKey}`;
    return { task: existing!, created: false };
  });
}

export async function taskGet(sql: Sql, id: string): Promise<TaskWithLastRun | undefined> {
  const [row] = await sql<TaskWithLastRun[]>`
    select t.*, lr.* from tasks t ${LAST_RUN(sql)}
    where t.id = ${id} and t.state <> 'deleted'`;
  return row;
}

export interface TaskListFilter {
  state?: string;
  kind?: string;
  q?: string;
  limit: number;
  after?: { createdAt: Date; id: string };
}

export async function taskList(sql: Sql, f: TaskListFilter): Promise<TaskWithLastRun[]> {
  const pattern = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
  return sql<TaskWithLastRun[]>`
    select t.*, lr.* from tasks t ${LAST_RUN(sql)}
    where t.state <> 'deleted'
      ${f.state ? sql`and t.state = ${f.state}` : sql``}
      ${f.kind ? sql`and t.kind = ${f.kind}` : sql``}
      ${pattern ? sql`and t.name ilike ${pattern}` : sql``}
      ${f.after ? sql`and (t.created_at, t.id) < (${f.after.createdAt}, ${f.after.id})` : sql``}
    order by t.created_at desc, t.id desc
    limit ${f.limit}`;
}

export interface TaskChange {
  name?: string;
  kind?: TaskKind;
  runAt?: Date | null;
  cronExpression?: string | null;
  timezone?: string;
  startAt?: Date | null;
  endAt?: Date | null;
  payload?: unknown;
  action?: Action;
  misfirePolicy?: 'fire_once' | 'skip';
  overlapPolicy?: 'allow' | 'skip';
  state?: TaskStateRow;
  nextRunAt?: Date | null;
}

export type TaskUpdateResult =
  | { ok: true; task: TaskRow }
  | { ok: false; reason: 'not_found' | 'version_conflict'; current?: TaskRow };

/**
 * Applies a change computed from the current row (read inside the same transaction
 * under FOR UPDATE, so the claimer cannot advance the task in between). When the
 * schedule or state changes, occurrences already claimed but not yet fired are
 * cancelled: the node holding them finds its fenced result write rejected.
 */
export async function taskUpdate(
  sql: Sql,
  id: string,
  expectedVersion: number | undefined,
  compute: (current: TaskRow) => { change: TaskChange; cancelPending?: string; notice: TaskChangeKind; wake: boolean },
): Promise<TaskUpdateResult> {
  return sql.begin(async (tx) => {
    const [current] = await tx<TaskRow[]>`select * from tasks where id = ${id} and state <> 'deleted' for update`;
    if (!current) return { ok: false, reason: 'not_found' } as const;
    if (expectedVersion !== undefined && current.version !== expectedVersion) {
      return { ok: false, reason: 'version_conflict', current } as const;
    }
    const { change, cancelPending, notice, wake } = compute(current);
    const c = { ...change } as Record<string, unknown>;
    if ('payload' in c) c.payload = tx.json(c.payload as never);
    if ('action' in c) c.action = tx.json(c.action as never);
    const columns = Object.keys(c).map((k) => k.replace(/[A-Z]/g, (m) => '_' + m.toLowerCase()));
    const values = Object.fromEntries(Object.entries(c).map(([k, v], i) => [columns[i], v]));
    values.updated_at = new Date();
    // the column helper must sit right after SET: postgres.js picks its form from the keyword before it
    const [task] = await tx<TaskRow[]>`
      update tasks set ${tx(values as Record<string, never>)}, version = version + 1
      where id = ${id}
      returning *`;
    if (cancelPending) {
      // Occurrences claimed ahead whose time has not come are not history yet: they are
      // removed, so a resume or a new schedule can claim the same instants again (the
      // occurrence key would refuse them). Those already due are recorded as skipped.
      await tx`
        with cancelled as (
          select id, scheduled_for > now() as ahead from runs
          where task_id = ${id} and status = 'pending' and trigger = 'schedule'
        ), removed as (
          delete from runs where id in (select id from cancelled where ahead)
        )
        update runs set status = 'skipped', reason = ${cancelPending}, finished_at = now(), node_id = null
        where id in (select id from cancelled where not ahead)`;
    }
    await notify(tx, { t: 'task', id, change: notice, wake, cancelled: !!cancelPending });
    return { ok: true, task: task! } as const;
  });
}

/** Soft delete: history stays readable; claimed occurrences (even manual ones) are cancelled. */
export async function taskDelete(sql: Sql, id: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rows = await tx`
      update tasks set state = 'deleted', next_run_at = null, deleted_at = now(),
                       updated_at = now(), version = version + 1, idempotency_key = null
      where id = ${id} and state <> 'deleted' returning id`;
    if (!rows.length) return false;
    await tx`
      update runs set status = 'skipped', reason = 'task deleted', finished_at = now(), node_id = null
      where task_id = ${id} and status = 'pending'`;
    await notify(tx, { t: 'task', id, change: 'deleted', cancelled: true });
    return true;
  });
}

export async function taskCountsByState(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: string }[]>`select state, count(*) as n from tasks group by state`;
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/**
 * Tasks with an occurrence due by `until` and not yet claimed, counted up to `cap` so
 * the count stays cheap (the due index, no more than `cap` entries). At `now` it is
 * the backlog; at a horizon, the work a claimer shares out.
 */
export async function tasksDueCount(sql: Sql, until: Date, cap = 100_000): Promise<number> {
  const [row] = await sql<{ n: string }[]>`
    select count(*) as n from (select 1 from tasks where next_run_at <= ${until} limit ${cap}) d`;
  return Number(row?.n ?? 0);
}

/**
 * Forgets finished tasks (completed one-time tasks, deleted ones) whose runs have all
 * been pruned and that have not changed since `olderThan`: without this, a reminder
 * workload grows the tasks table forever. Batched to keep transactions short.
 */
export async function tasksPrune(sql: Sql, olderThan: Date, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql`
      delete from tasks where id in (
        select t.id from tasks t
        where t.state in ('completed', 'deleted') and t.updated_at < ${olderThan}
          and not exists (select 1 from runs r where r.task_id = t.id)
        limit ${batch})
      returning 1`;
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
