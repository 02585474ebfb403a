// Every SQL statement about tasks. Functions are named entity + verb.
import { randomFillSync } from 'node:crypto';
import type { Sql, Tx } from './db.js';
import type { Action, TaskChangeKind } from '../../shared/schemas.js';
import { notify } from './notices.js';

export type TaskKind = 'once' | 'cron';
export type TaskStateRow = 'active' | 'paused' | 'completed' | 'deleted';

export interface TaskRow {
  id: string;
  /** the client's own name for the task, unique among tasks not deleted */
  key: string | null;
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
  /** null: no lateness limit */
  maxLatenessMs: number | null;
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
  /** the earliest occurrence claimed ahead and not yet fired */
  heldNextAt: Date | null;
}

export type TaskWithLastRun = TaskRow & LastRunRow;
export type TaskWithHeld = TaskRow & Pick<LastRunRow, 'heldNextAt'>;

/** What a create stores: the row minus what PostgreSQL assigns. */
export type TaskInsert = Omit<TaskRow, 'id' | 'version' | 'createdAt' | 'updatedAt'>;


/**
 * A new task's id: a UUID version 7 (RFC 9562: 48-bit Unix milliseconds, a 12-bit
 * counter, then random bits). Ids made close in time sort close together, so a bulk
 * load appends to the primary key's right edge instead of touching a random page of it
 * for every row, and the primary key orders the task list newest first (taskList). The
 * counter (RFC 9562, method 1) keeps the ids one process makes within a millisecond in
 * the order it made them, for the first 4,096 of them; past that they are random.
 */
export function taskId(now = Date.now()): string {
  if (now !== idMs) {
    const t = now.toString(16).padStart(12, '0');
    idMs = now;
    idSeq = 0;
    idPrefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-`;
  }
  // random bytes drawn for 4,096 ids at a time (randomBytes per id was a syscall per
  // row: 4 % of a bulk load's CPU; randomUUID's string, cut up, ~750 bytes of garbage
  // an id): the version and counter, then the variant and 62 random bits, as hex
  if (idAt === ID_POOL.length) {
    randomFillSync(ID_POOL);
    idAt = 0;
  }
  const o = idAt;
  idAt += 10;
  if (idSeq <= 0xfff) {
    ID_POOL[o] = 0x70 | (idSeq >> 8);
    ID_POOL[o + 1] = idSeq++ & 0xff;
  } else ID_POOL[o] = 0x70 | (ID_POOL[o]! & 0x0f);
  ID_POOL[o + 2] = 0x80 | (ID_POOL[o + 2]! & 0x3f);
  const hex = ID_POOL.toString('hex', o, o + 10);
  return `${idPrefix}${hex.slice(0, 4)}-${hex.slice(4, 8)}-${hex.slice(8)}`;
}
const ID_POOL = Buffer.alloc(10 * 4096);
let idAt = ID_POOL.length;
let idMs = -1;
let idSeq = 0;
let idPrefix = '';

const LAST_RUN = (sql: Sql) => sql`
  left join lateral (
    select r.id as last_run_id, r.status as last_run_status,
           r.scheduled_for as last_run_scheduled_for, r.started_at as last_run_started_at
    -- the latest run that happened: occurrences claimed ahead (pending) are not runs yet
    from runs r where r.task_id = t.id and r.status <> 'pending'
    order by r.scheduled_for desc, r.id desc limit 1
  ) lr on true
  -- the earliest occurrence a node has claimed ahead and not fired: with claim-ahead the
  -- task's own next_run_at has already moved past it (a one-time task reads completed)
  left join lateral (
    select min(h.scheduled_for) as held_next_at
    from runs h where h.task_id = t.id and h.status = 'pending' and h.trigger = 'schedule'
  ) hn on true`;

export type TaskInsertResult =
  | { task: TaskRow; created: boolean; keyTaken?: undefined }
  | { task?: undefined; created: false; keyTaken: TaskRow };

/**
 * Claims, inside the creating transaction, what of these new tasks falls due soon
 * (scheduler/claimer.ts `claimCreated`); answers the ids of the tasks it claimed.
 */
export type ClaimNew = (tx: Tx, taskIds: string[]) => Promise<Set<string>>;

/**
 * Inserts, or returns the task already created under the same idempotency key
 * (created=false), or the live task that already holds the key (keyTaken). A NOTIFY is
 * sent only when the task is due within the lookahead and not claimed by this create
 * (`claim`): a NOTIFY takes a cluster-wide lock at commit, so one on every create
 * serialised concurrent writers.
 */
export async function taskInsert(sql: Sql, t: TaskInsert, wake: boolean, claim?: ClaimNew): Promise<TaskInsertResult> {
  const insert = (q: Sql | Tx) => q<TaskRow[]>`
      insert into tasks (id, key, name, kind, run_at, cron_expression, timezone, start_at, end_at, payload,
                         action, misfire_policy, overlap_policy, max_lateness_ms, state, next_run_at, idempotency_key, idempotency_hash)
      values (${taskId()}, ${t.key}, ${t.name}, ${t.kind}, ${t.runAt}, ${t.cronExpression}, ${t.timezone}, ${t.startAt}, ${t.endAt},
              ${q.json(t.payload as never)}, ${q.json(t.action as never)}, ${t.misfirePolicy}, ${t.overlapPolicy}, ${t.maxLatenessMs}, ${t.state},
              ${t.nextRunAt}, ${t.idempotencyKey}, ${t.idempotencyHash})
      on conflict (idempotency_key) where idempotency_key is not null do nothing
      returning *`;
  try {
    const rows = wake || claim
      ? await sql.begin(async (tx) => {
          const r = await insert(tx);
          const claimed = r[0] && claim ? (await claim(tx, [r[0].id])).size > 0 : false;
          if (r[0] && wake && !claimed) await notify(tx, { t: 'task', id: r[0].id, change: 'created', wake });
          return r;
        })
      : await insert(sql);
    if (rows[0]) return { task: rows[0], created: true };
  } catch (err) {
    if (isKeyConflict(err) && t.key) {
      const holder = await taskGetByKey(sql, t.key);
      if (holder) return { created: false, keyTaken: holder };
    }
    throw err;
  }
  const [existing] = await sql<TaskRow[]>`select * from tasks where idempotency_key = ${t.idempotencyKey}`;
  return { task: existing!, created: false };
}

/**
 * Single creates that need no wake-up, coalesced: every create that arrives while the
 * event loop is busy goes into one multi-row INSERT (autocommit), so n concurrent
 * creates cost one statement, one socket write and one WAL flush at commit instead of
 * n. Profiled at 16 in flight: PostgreSQL backends spent most of their time waiting on
 * the WAL flush of their own one-row commit (LWLock:WALWrite, IO:WalSync), and the
 * node a third of its CPU in the socket write per statement.
 *
 * Each create keeps its own answer: ON CONFLICT DO NOTHING (every unique index is an
 * arbiter) lets the others through when one hits a used idempotency key or a key held
 * by a live task, and that one is then answered as a replay or as keyTaken, as
 * taskInsert would. If the statement fails as a whole (a value PostgreSQL refuses),
 * each create is retried alone, so only the bad one fails. Tasks due within the
 * lookahead do not come here: they go through taskInsert (wake-up, claim).
 */
export class TaskInsertQueue {
  private queue: { row: TaskInsert; resolve: (r: TaskInsertResult) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly sql: Sql,
    /** the most creates in one statement */
    private readonly max = 500,
  ) {}

  insert(row: TaskInsert): Promise<TaskInsertResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // after the I/O callbacks of this turn: every request already read joins in
        setImmediate(() => this.flush());
      }
    });
  }

  private flush() {
    this.scheduled = false;
    while (this.queue.length) void this.run(this.queue.splice(0, this.max));
  }

  private async run(items: TaskInsertQueue['queue']) {
    if (items.length === 1) {
      const it = items[0]!;
      return taskInsert(this.sql, it.row, false).then(it.resolve, it.reject);
    }
    const ids = items.map(() => taskId());
    let made: TaskRow[];
    try {
      const rows = items.map(({ row }, i) => ({ id: ids[i]!, row }));
      made = await rowsWrite<TaskRow[]>(this.sql, 'creates', rows);
    } catch {
      // one bad value fails the statement: each create alone, so only its own request fails
      for (const it of items) taskInsert(this.sql, it.row, false).then(it.resolve, it.reject);
      return;
    }
    const byId = new Map(made.map((t) => [t.id, t]));
    items.forEach((it, i) => {
      const task = byId.get(ids[i]!);
      // refused by a unique index: taskInsert answers it (replay, or the key's holder)
      if (task) it.resolve({ task, created: true });
      else taskInsert(this.sql, it.row, false).then(it.resolve, it.reject);
    });
  }
}

/**
 * Runs a transaction again (up to `attempts` times) when it failed on a unique
 * violation of the live-key index: a racing writer inserted a key the transaction had
 * read as free, and the next attempt sees it.
 */
export async function withKeyRaceRetry<T>(fn: (attempt: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let a = 1; ; a++) {
    try {
      return await fn(a);
    } catch (err) {
      if (!isKeyConflict(err) || a >= attempts) throw err;
    }
  }
}

/** A unique violation on the live-key index: another task holds the key. */
export function isKeyConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint_name?: string };
  return e?.code === '23505' && e.constraint_name === 'tasks_key_uidx';
}

export async function taskGetByKey(sql: Sql | Tx, key: string): Promise<TaskWithLastRun | undefined> {
  const [row] = await sql<TaskWithLastRun[]>`
    select t.*, lr.*, hn.* from tasks t ${LAST_RUN(sql as Sql)}
    where (t.key collate "C") = ${key} and t.state <> 'deleted' and t.key is not null`;
  return row;
}

export async function taskGet(sql: Sql, id: string): Promise<TaskWithLastRun | undefined> {
  const [row] = await sql<TaskWithLastRun[]>`
    select t.*, lr.*, hn.* from tasks t ${LAST_RUN(sql)}
    where t.id = ${id} and t.state <> 'deleted'`;
  return row;
}

export interface TaskListFilter {
  state?: string;
  kind?: string;
  q?: string;
  /** tasks whose key starts with this (never empty) */
  keyPrefix?: string;
  limit: number;
  /** the previous page's end: its id (the page's order); `us` is not read */
  after?: { us: string; id: string };
}

/** `col` in whole microseconds since the epoch, as text: a list's cursor position. */
export const cursorUs = (sql: Sql | Tx, col: string) => sql.unsafe(`(extract(epoch from ${col}) * 1000000)::int8::text`);
/** The instant of a cursor's microseconds. */
export const cursorAt = (sql: Sql | Tx, us: string) => sql`(timestamptz 'epoch' + ${us}::int8 * interval '1 microsecond')`;

/**
 * A key prefix as a bytewise range: ['user-42/', 'user-420'). Keys are ASCII, so
 * raising the last character by one gives the first string past every match.
 */
export function keyRange(prefix: string): [string, string] {
  const last = prefix.charCodeAt(prefix.length - 1);
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)];
}

/** `t.key` within the prefix's range; `t` must be the tasks table's alias. */
const liveKeyIn = (sql: Sql | Tx, prefix: string) => {
  const [lo, hi] = keyRange(prefix);
  return sql`(t.key collate "C") >= ${lo} and (t.key collate "C") < ${hi} and t.key is not null`;
};

/**
 * A page of live tasks, newest first: by id, whose first bits are its creation time
 * (taskId), so the primary key gives the order and the cursor is the last id (a
 * cursor keeps the [instant, id] shape of the runs' list). Filtered by a key prefix, the page is chosen among
 * the prefix's tasks found through the live-key index: walking the newest-first index
 * and filtering by key read every live task of the table when the prefix had none left
 * (a departed user's, after a cancel: 0.8 s at 630,000 live tasks, PostgreSQL's
 * statistics still counting the cancelled ones), where this reads only the prefix's.
 */
export async function taskList(sql: Sql, f: TaskListFilter): Promise<(TaskWithLastRun & { cursorUs: string })[]> {
  const pattern = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
  const where = sql`
    where t.state <> 'deleted'
      ${f.state ? sql`and t.state = ${f.state}` : sql``}
      ${f.kind ? sql`and t.kind = ${f.kind}` : sql``}
      ${pattern ? sql`and t.name ilike ${pattern}` : sql``}
      ${f.keyPrefix ? sql`and ${liveKeyIn(sql, f.keyPrefix)}` : sql``}
      ${f.after ? sql`and t.id < ${f.after.id}::uuid` : sql``}`;
  if (!f.keyPrefix) {
    return sql<(TaskWithLastRun & { cursorUs: string })[]>`
      select t.*, lr.*, hn.*, ${cursorUs(sql, 't.created_at')} as cursor_us from tasks t ${LAST_RUN(sql)}
      ${where}
      order by t.id desc
      limit ${f.limit}`;
  }
  return sql<(TaskWithLastRun & { cursorUs: string })[]>`
    with matched as materialized (select t.id from tasks t ${where})
    select t.*, lr.*, hn.*, ${cursorUs(sql, 't.created_at')} as cursor_us from (
      select id from matched order by id desc limit ${f.limit}
    ) page join tasks t on t.id = page.id ${LAST_RUN(sql)}
    order by t.id desc`;
}

/** How many tasks a list filter matches (without paging). */
export async function taskCount(sql: Sql, f: Omit<TaskListFilter, 'limit' | 'after'>): Promise<number> {
  const pattern = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => '\\' + c)}%` : null;
  const [row] = await sql<{ n: string }[]>`
    select count(*) as n from tasks t
    where t.state <> 'deleted'
      ${f.state ? sql`and t.state = ${f.state}` : sql``}
      ${f.kind ? sql`and t.kind = ${f.kind}` : sql``}
      ${pattern ? sql`and t.name ilike ${pattern}` : sql``}
      ${f.keyPrefix ? sql`and ${liveKeyIn(sql, f.keyPrefix)}` : sql``}`;
  return Number(row!.n);
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
  maxLatenessMs?: number | null;
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
  compute: (current: TaskWithHeld) => { change: TaskChange; cancelPending?: string; notice: TaskChangeKind; wake: boolean },
): Promise<TaskUpdateResult> {
  return sql.begin(async (tx) => {
    const [current] = await tx<TaskWithHeld[]>`
      select t.*, (select min(h.scheduled_for) from runs h
                   where h.task_id = t.id and h.status = 'pending' and h.trigger = 'schedule') as held_next_at
      from tasks t where t.id = ${id} and t.state <> 'deleted' for update of t`;
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

/**
 * Soft delete: history stays readable; claimed occurrences (even manual ones) are
 * cancelled. The key stays on the deleted row (the live-key index ignores it), so the
 * key is free for a new task and the runs stay findable by prefix. `purge` also erases
 * what the client stored: the payload, the webhook's body and headers, and what the
 * runs kept of the target's answers.
 */
export async function taskDelete(sql: Sql, id: string, purge = false): Promise<boolean> {
  return sql.begin(async (tx) => {
    const rows = await tx`
      update tasks set state = 'deleted', next_run_at = null, deleted_at = now(),
                       updated_at = now(), version = version + 1, idempotency_key = null
                       ${purge ? tx`, payload = null, action = action - 'body' - 'headers'` : tx``}
      where id = ${id} and state <> 'deleted' returning id`;
    if (!rows.length) return false;
    await tx`
      update runs set status = 'skipped', reason = 'task deleted', finished_at = now(), node_id = null
      where task_id = ${id} and status = 'pending'`;
    if (purge) await tx`update runs set deliveries = null where task_id = ${id} and deliveries is not null`;
    await notify(tx, { t: 'task', id, change: 'deleted', cancelled: true });
    return true;
  });
}

/**
 * Deletes every live task whose key starts with `prefix`, `batch` tasks per
 * transaction so no transaction holds locks on 100,000 rows, until none is left.
 * Claimed, unfired occurrences are cancelled in the same transaction as their task,
 * and the nodes holding them are told: a notice per task that had occurrences in hand,
 * none for the others.
 *
 * PostgreSQL does the work, one backend per transaction, while the node waits: two
 * transactions run at once (SKIP LOCKED keeps them off each other's rows), so a large
 * cancel uses both cores of a small machine (100,000: 3.8 s one at a time, 2.6 s two at
 * once, medians of 4 runs alternated in bench:bulk).
 * Rows another transaction had locked were skipped: a last pass without SKIP LOCKED
 * waits for them, so nothing under the prefix survives.
 *
 * Each pass walks the live-key index in key order and updates by id (`= any(array(…))`):
 * left to itself the planner took a sequential scan for the candidates (which reads the
 * rows earlier passes deleted again, every pass) and a hash join over the whole table
 * for the update (0.7 s a pass of 10,000 at 300,000 tasks; 0.36 s this way).
 */
export async function tasksDeleteByKeyPrefix(
  sql: Sql,
  prefix: string,
  opts: { purge?: boolean; batch?: number; parallel?: number } = {},
): Promise<number> {
  const batch = opts.batch ?? 10_000;
  const pass = (skipLocked: boolean) =>
    sql.begin(async (tx) => {
      const deleted = await tx<{ id: string }[]>`
        update tasks t set state = 'deleted', next_run_at = null, deleted_at = now(),
                           updated_at = now(), version = version + 1, idempotency_key = null
                           ${opts.purge ? tx`, payload = null, action = action - 'body' - 'headers'` : tx``}
        where t.id = any(array(
          select t.id from tasks t where t.state <> 'deleted' and ${liveKeyIn(tx, prefix)}
          order by (t.key collate "C")
          limit ${batch} for update ${skipLocked ? tx`skip locked` : tx``}))
        returning t.id`;
      if (!deleted.length) return 0;
      const ids = deleted.map((r) => r.id);
      const held = await tx<{ taskId: string }[]>`
        update runs set status = 'skipped', reason = 'task deleted', finished_at = now(), node_id = null
        where task_id = any(${ids}::uuid[]) and status = 'pending'
        returning task_id`;
      if (opts.purge) await tx`update runs set deliveries = null where task_id = any(${ids}::uuid[]) and deliveries is not null`;
      // the nodes holding those occurrences drop them (sent pipelined, delivered at commit)
      const heldIds = [...new Set(held.map((r) => r.taskId))];
      await Promise.all(heldIds.map((id) => notify(tx, { t: 'task', id, change: 'deleted', cancelled: true })));
      return deleted.length;
    });
  const drain = async (skipLocked: boolean) => {
    let n = 0;
    for (;;) {
      const k = await pass(skipLocked);
      n += k;
      if (k < batch) return n;
    }
  };
  const parallel = Array.from({ length: opts.parallel ?? 2 }, () => drain(true));
  const counts = await Promise.all(parallel);
  return counts.reduce((a, b) => a + b, 0) + (await drain(false));
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
      delete from tasks where id = any(array(
        select t.id from tasks t
        where t.state in ('completed', 'deleted') and t.updated_at < ${olderThan}
          and not exists (select 1 from runs r where r.task_id = t.id)
        limit ${batch}))
      returning 1`;
    total += rows.length;
    if (rows.length < batch) return total;
  }
}

export type PutOutcome = 'created' | 'replaced' | 'unchanged';

/**
 * What to store for an item, given the live task holding its key (undefined: none):
 * null when nothing would change. It may throw to refuse the item.
 */
export type ReplacePlan = (current: TaskRow | undefined, wanted: TaskInsert) => { row: TaskInsert; rescheduled: boolean } | null;

/** Items the plan refused, by index: the whole put is rolled back. */
export class PutRejected extends Error {
  constructor(readonly items: { index: number; error: unknown }[]) {
    super(`${items.length} items refused`);
  }
}

export interface PutResult {
  id: string;
  outcome: PutOutcome;
}

/**
 * A set-based write's rows travel as one PostgreSQL array per column, read by unnest:
 * PostgreSQL reads them in 11.6-12.2 ms per 1,000 rows where jsonb_to_recordset of the
 * same rows took 14.1-14.7 (bench/insert-floor.mjs), and the node builds them about as
 * fast as the JSON. Instants travel as epoch milliseconds (a number is read and written faster
 * than an ISO string); to_timestamp(ms / 1000) is exact: it rounds to the microsecond,
 * and the error of the division is far below half of one. Defaults travel as NULL and
 * are filled in by COALESCE (rowValues); a column no row has a value for is not sent.
 */
const ROW_COLUMNS = [
  ['id', 'uuid'], ['key', 'text'], ['name', 'text'], ['kind', 'text'], ['run_at_ms', 'float8'], ['cron_expression', 'text'],
  ['timezone', 'text'], ['start_at_ms', 'float8'], ['end_at_ms', 'float8'], ['payload', 'jsonb'], ['action', 'jsonb'],
  ['misfire_policy', 'text'], ['overlap_policy', 'text'], ['max_lateness_ms', 'integer'], ['state', 'text'],
  ['next_run_at_ms', 'float8'], ['idempotency_key', 'text'], ['idempotency_hash', 'text'],
] as const;
/** The stored columns other than id and key. */
const ROW_TARGET = `name, kind, run_at, cron_expression, timezone, start_at, end_at, payload, action,
  misfire_policy, overlap_policy, max_lateness_ms, state, next_run_at`;
type RowColumn = (typeof ROW_COLUMNS)[number][0];
/** ROW_TARGET's values from a row `v`; a column no row has a value for is not sent (NULL) */
const rowValues = (has: (c: RowColumn) => boolean) => {
  const v = (c: RowColumn) => (has(c) ? `v.${c}` : `null::${ROW_COLUMNS.find(([n]) => n === c)![1]}`);
  return `${v('name')}, ${v('kind')}, to_timestamp(${v('run_at_ms')} / 1000), ${v('cron_expression')}, coalesce(${v('timezone')}, 'UTC'),
  to_timestamp(${v('start_at_ms')} / 1000), to_timestamp(${v('end_at_ms')} / 1000), ${v('payload')}, coalesce(${v('action')}, '{"type":"log"}'),
  coalesce(${v('misfire_policy')}, 'fire_once'), coalesce(${v('overlap_policy')}, 'allow'), ${v('max_lateness_ms')},
  coalesce(${v('state')}, 'active'), to_timestamp(${v('next_run_at_ms')} / 1000)`;
};

/**
 * An element of a PostgreSQL array literal: quoted, its quotes and backslashes escaped.
 * JSON.stringify quotes a text the same way when it needs no escape at all (no
 * backslash in its output), and is native: most names and every key take that path.
 */
const ARRAY_ESCAPE = /[\\"]/g;
const el = (s: string | null | undefined) => {
  if (s === null || s === undefined) return 'NULL';
  const quoted = JSON.stringify(s);
  return quoted.includes('\\') ? `"${s.replace(ARRAY_ESCAPE, '\\$&')}"` : quoted;
};
/**
 * A JSON value as an array element. Its JSON text holds no raw control character (JSON
 * escapes them), so quoting that text with JSON.stringify escapes exactly its quotes
 * and backslashes, as an array literal wants.
 */
const jsonEl = (v: unknown) => JSON.stringify(JSON.stringify(v));
const ms = (d: Date | null | undefined) => (d ? String(d.getTime()) : 'NULL');

type RowsStatement = 'insert' | 'update' | 'creates';
/**
 * The shapes kept (and prepared on each connection, where postgres.js keeps them
 * without a bound): the few that real tasks make. Others are made for each write and
 * run unprepared, so a client varying its optional fields cannot grow either cache.
 */
const MAX_SHAPES = 64;
const statements = new Map<string, string>();
/**
 * A set-based write's statement over `unnest($1, …) as v(…)` of the columns sent (`sent`,
 * a bit per column of ROW_COLUMNS): whole texts, made once a shape and run with `unsafe`.
 * A fragment per column (postgres.js makes each one a query object) and eight arrays of
 * NULLs for a plain task had cost a coalesced single create ~0.1 ms of the node's CPU
 * and ~0.02 ms of PostgreSQL's.
 */
function rowsStatement(kind: RowsStatement, sent: number): { text: string; kept: boolean } {
  const id = `${kind}:${sent}`;
  let text = statements.get(id);
  if (text) return { text, kept: true };
  const cols = ROW_COLUMNS.filter((_, k) => sent & (1 << k));
  const has = (c: RowColumn) => cols.some(([n]) => n === c);
  const rows = `unnest(${cols.map(([, type], k) => `$${k + 1}::text::${type}[]`).join(', ')}) as v(${cols.map(([n]) => n).join(', ')})`;
  const key = has('key') ? 'v.key' : 'null::text';
  if (kind === 'insert') text = `insert into tasks (id, key, ${ROW_TARGET}) select v.id, ${key}, ${rowValues(has)} from ${rows}`;
  else if (kind === 'update') {
    text = `update tasks t set (${ROW_TARGET}) = (${rowValues(has)}), version = t.version + 1, updated_at = now() from ${rows} where t.id = v.id`;
  } else {
    // single creates coalesced: a used idempotency key or a held key refuses only its own row
    const idem = has('idempotency_key') ? 'v.idempotency_key, v.idempotency_hash' : 'null::text, null::text';
    text = `insert into tasks (id, key, ${ROW_TARGET}, idempotency_key, idempotency_hash)
      select v.id, ${key}, ${rowValues(has)}, ${idem} from ${rows} on conflict do nothing returning *`;
  }
  const kept = statements.size < MAX_SHAPES;
  if (kept) statements.set(id, text);
  return { text, kept };
}

/** Runs a set-based write of `rows`: one array literal per column some row has a value for. */
function rowsWrite<T extends object[] = object[]>(sql: Sql | Tx, kind: RowsStatement, rows: { id: string; row: TaskInsert }[]) {
  const cols: string[][] = ROW_COLUMNS.map(() => new Array<string>(rows.length));
  let sent = 1; // id
  const put = (k: number, i: number, value: string) => {
    cols[k]![i] = value;
    if (value !== 'NULL') sent |= 1 << k;
  };
  const idem = kind === 'creates';
  // kind, the policies and state are words of their schema's enums (lower case, never
  // "null"): array elements as they are
  for (let i = 0; i < rows.length; i++) {
    const { id, row: t } = rows[i]!;
    cols[0]![i] = id;
    put(1, i, el(t.key));
    put(2, i, el(t.name));
    put(3, i, t.kind);
    put(4, i, ms(t.runAt));
    put(5, i, el(t.cronExpression));
    put(6, i, t.timezone === 'UTC' ? 'NULL' : el(t.timezone));
    put(7, i, ms(t.startAt));
    put(8, i, ms(t.endAt));
    put(9, i, t.payload === null || t.payload === undefined ? 'NULL' : jsonEl(t.payload));
    put(10, i, t.action.type === 'log' ? 'NULL' : jsonEl(t.action));
    put(11, i, t.misfirePolicy === 'fire_once' ? 'NULL' : t.misfirePolicy);
    put(12, i, t.overlapPolicy === 'allow' ? 'NULL' : t.overlapPolicy);
    put(13, i, t.maxLatenessMs === null || t.maxLatenessMs === undefined ? 'NULL' : String(t.maxLatenessMs));
    put(14, i, t.state === 'active' ? 'NULL' : t.state);
    put(15, i, ms(t.nextRunAt));
    put(16, i, idem ? el(t.idempotencyKey) : 'NULL');
    put(17, i, idem && t.idempotencyKey !== null ? el(t.idempotencyHash) : 'NULL');
  }
  const params = cols.filter((_, k) => sent & (1 << k)).map((c) => `{${c.join(',')}}`);
  const { text, kept } = rowsStatement(kind, sent);
  return sql.unsafe<T>(text, params, { prepare: kept });
}

/**
 * Creates or replaces many tasks in one transaction with set-based statements: one
 * read of the keys already held (locked), one INSERT of the new rows, one UPDATE of
 * the replaced ones, one cancel of what replaced schedules had claimed, and at most
 * one wake-up NOTIFY. Items without a key are plain creates. A key inserted by a
 * racing transaction since the read makes the INSERT fail with a unique violation on
 * the live-key index: run the put's transaction through withKeyRaceRetry, and the next
 * attempt reads that key and replaces it, so two racing puts of one key leave one task.
 * With `keysAssumedFree` the read is left out (every keyed item is taken as new, unless
 * one is refused as new): a key held after all fails the INSERT the same way, and the
 * next attempt must read. Results are in input order.
 */
export async function tasksPut(
  tx: Tx,
  items: TaskInsert[],
  plan: ReplacePlan,
  wakeBefore: Date,
  claim?: { before: Date; claim: ClaimNew },
  opts: { keysAssumedFree?: boolean } = {},
): Promise<{ results: PutResult[]; wake: boolean }> {
  const keys = items.map((t) => t.key).filter((k): k is string => k !== null);
  /** each item against what its key holds: insert, update or nothing */
  const sort = (held: Map<string, TaskRow>) => {
    const out = {
      results: new Array<PutResult | undefined>(items.length),
      wake: false,
      cancelled: [] as string[],
      kept: [] as string[],
      inserts: [] as { i: number; id: string }[],
      updates: [] as { i: number; id: string; row: TaskInsert }[],
      refused: [] as { index: number; error: unknown }[],
    };
    for (let i = 0; i < items.length; i++) {
      const want = items[i]!;
      const current = want.key !== null ? held.get(want.key) : undefined;
      let change: ReturnType<ReplacePlan>;
      try {
        change = plan(current, want);
      } catch (error) {
        out.refused.push({ index: i, error });
        continue;
      }
      if (!current) {
        out.inserts.push({ i, id: taskId() });
        continue;
      }
      if (!change) {
        out.results[i] = { id: current.id, outcome: 'unchanged' };
        continue;
      }
      out.updates.push({ i, id: current.id, row: change.row });
      out.results[i] = { id: current.id, outcome: 'replaced' };
      (change.rescheduled ? out.cancelled : out.kept).push(current.id);
      if (change.row.nextRunAt && change.row.nextRunAt <= wakeBefore) out.wake = true;
    }
    return out;
  };
  const readKeys = async () => {
    const rows = await tx<TaskRow[]>`
      select * from tasks
      where (key collate "C") = any(${keys}::text[]) and state <> 'deleted' and key is not null
      for update`;
    return new Map(rows.map((r) => [r.key!, r]));
  };
  // keys assumed free (an import's new keys) are not read: one held after all fails the
  // INSERT on the live-key index, and the caller's next attempt reads them (KeyGuess)
  let sorted = sort(keys.length && !opts.keysAssumedFree ? await readKeys() : new Map());
  // refused as new: what its key holds may make it an unchanged or a replacing item
  if (sorted.refused.length && keys.length && opts.keysAssumedFree) sorted = sort(await readKeys());
  const { results, cancelled, kept, inserts, updates, refused } = sorted;
  let { wake } = sorted;
  // new tasks due by `claim.before`: claimed at the end; the others may need a wake-up
  const createdSoon = new Map<string, Date>();
  if (refused.length) throw new PutRejected(refused);
  if (inserts.length) {
    // ids are chosen here, so nothing needs reading back (RETURNING 1,000 ids cost the
    // node more to parse than the rest of the answer)
    const rows = inserts.map(({ i, id }) => ({ id, row: items[i]! }));
    // no ON CONFLICT: the keys were read FOR UPDATE above (or assumed free), so only a
    // transaction inserting one of them since (or a key held after all) collides, and
    // that unique violation retries the whole put (withKeyRaceRetry). ON CONFLICT's
    // speculative insertion cost every row an extra WAL record and a fifth more buffer
    // accesses.
    const made = await rowsWrite(tx, 'insert', rows);
    if (made.count !== inserts.length) throw new Error(`inserted ${made.count} of ${inserts.length} tasks`);
    for (const { i, id } of inserts) {
      results[i] = { id, outcome: 'created' };
      const next = items[i]!.nextRunAt;
      if (next && claim && next <= claim.before) createdSoon.set(id, next);
      else if (next && next <= wakeBefore) wake = true;
    }
  }
  if (updates.length) {
    await rowsWrite(tx, 'update', updates);
  }
  if (cancelled.length) {
    // as in taskUpdate: claimed-ahead occurrences not yet due are removed (the new
    // schedule may claim the same instants), those already due are recorded as skipped
    const rows = await tx<{ taskId: string }[]>`
      with cancelled as (
        select id, task_id, scheduled_for > now() as ahead from runs
        where task_id = any(${cancelled}::uuid[]) and status = 'pending' and trigger = 'schedule'
      ), removed as (
        delete from runs where id in (select id from cancelled where ahead) returning task_id
      ), skipped as (
        update runs set status = 'skipped', reason = 'schedule changed', finished_at = now(), node_id = null
        where id in (select id from cancelled where not ahead) returning task_id
      )
      select task_id from removed union all select task_id from skipped`;
    const held = [...new Set(rows.map((r) => r.taskId))];
    await Promise.all(held.map((id) => notify(tx, { t: 'task', id, change: 'updated', cancelled: true })));
  }
  if (kept.length) {
    // replaced, schedule unchanged: what nodes hold still fires, read again (new action, payload)
    const rows = await tx<{ taskId: string }[]>`
      select distinct task_id from runs where task_id = any(${kept}::uuid[]) and status = 'pending'`;
    await Promise.all(rows.map((r) => notify(tx, { t: 'task', id: r.taskId, change: 'updated', cancelled: false })));
  }
  if (claim && createdSoon.size) {
    // only brand-new tasks: a replaced one's cancellation notice would drop what this
    // node had just claimed for it
    const claimed = await claim.claim(tx, [...createdSoon.keys()]);
    for (const [id, next] of createdSoon) if (!claimed.has(id) && next <= wakeBefore) wake = true;
  }
  // one wake-up for the whole batch, and only when something is due within the lookahead
  if (wake) await notify(tx, { t: 'wake' });
  return { results: results as PutResult[], wake };
}

export async function tasksGetByIds(sql: Sql | Tx, ids: string[]): Promise<TaskRow[]> {
  return sql<TaskRow[]>`select * from tasks where id = any(${ids}::uuid[])`;
}

export interface BatchAnswer {
  status: number;
  response: unknown;
  requestHash: string;
}

/**
 * Claims an Idempotency-Key for a batch inside its transaction. A second request with
 * the key waits on the first's row lock and then reads its answer. Answers are kept a
 * day; older ones are pruned here, a few at a time.
 */
export async function taskBatchClaim(tx: Tx, key: string, requestHash: string): Promise<BatchAnswer | null> {
  await tx`
    delete from task_batches where idempotency_key in (
      select idempotency_key from task_batches where created_at < now() - interval '1 day' limit 100)`;
  const made = await tx`
    insert into task_batches (idempotency_key, request_hash, status, response) values (${key}, ${requestHash}, 0, 'null')
    on conflict do nothing returning 1`;
  if (made.length) return null;
  const [row] = await tx<BatchAnswer[]>`select status, response, request_hash from task_batches where idempotency_key = ${key}`;
  return row!;
}

export async function taskBatchAnswer(tx: Tx, key: string, status: number, response: unknown): Promise<void> {
  await tx`update task_batches set status = ${status}, response = ${tx.json(response as never)} where idempotency_key = ${key}`;
}
