// Every SQL statement about runs (occurrences and their execution log).
import type { Sql, Tx } from './db.js';
import type { Action, Delivery } from '../../shared/schemas.js';
import { notify, noticeSql } from './notices.js';
import { cursorAt, cursorUs, keyRange } from './tasks.js';
import type { ClaimPlan, DueTask, HeldOccurrence } from '../scheduler/plan.js';

export type RunStatusRow = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface RunRow {
  id: string;
  taskId: string;
  taskName: string;
  /** joined from the task; kept after it is deleted */
  taskKey?: string | null;
  scheduledFor: Date;
  trigger: 'schedule' | 'manual';
  status: RunStatusRow;
  reason: string | null;
  late: boolean;
  attempt: number;
  nodeId: string | null;
  claimedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  deliveries: Delivery[] | null;
  retryOf: string | null;
}

/** What a task's execution needs; carried by the claim so firing needs no round trip. */
export interface TaskDelivery {
  taskName: string;
  action: Action;
  payload: unknown;
  overlapPolicy: 'allow' | 'skip';
  maxLatenessMs: number | null;
}

/** What a node holds in memory between claim and fire. */
export interface ClaimedRun extends HeldOccurrence, TaskDelivery {
  id: string;
  taskId: string;
  /** the fence: a result counts only under this attempt (a rescue bumps it) */
  attempt: number;
  /** decides the firing path: `log` is recorded at once, `webhook` goes to the deliverer */
  actionType: Action['type'];
  /** a redrive's Idempotency-Key (the original occurrence's); null: derived from this run */
  idempotencyKey: string | null;
  /** attempts made by earlier owners (a rescued run continues their count) */
  deliveries: Delivery[] | null;
}

/**
 * The claim: in one transaction, lock due tasks (SKIP LOCKED, so nodes never wait on
 * each other), turn each due occurrence into a run row owned by this node, and move
 * each task to its next occurrence. The unique key (task_id, scheduled_for) makes a
 * second run for the same occurrence impossible even if two claims raced.
 * Round trips: begin, select, insert, update, commit — per batch, not per task.
 */
export async function occurrencesClaimDue(
  sql: Sql,
  opts: ClaimOptions,
): Promise<{ claimed: ClaimedRun[]; tasks: number; moreDue: boolean }> {
  return sql.begin(async (tx) => {
    // sent in one round trip with the claim (pipelined), and applied before it is planned
    const [, due] = await Promise.all([
      walkDueIndex(tx),
      tx<ClaimableTask[]>`
        select ${claimableColumns(tx)}
        from tasks
        where next_run_at <= ${opts.horizon} and state = 'active'
        order by next_run_at
        limit ${opts.limit}
        for update skip locked`,
    ]);
    return claimLocked(tx, due, opts);
  });
}

/**
 * The claim's plan whatever the statistics say: walk the due index in order and stop at
 * the limit. Without statistics (a table filled faster than autovacuum analyses it,
 * which looks once a minute) PostgreSQL guesses a third of the rows due and 1 in 200
 * active, and chose a sequential scan: in a million-task import into a new database,
 * each claim poll of the idle node read ~10,500 blocks for 0 rows, 158 ms, and the
 * claims took 10.7 s of PostgreSQL's CPU in a 25-s load (pg_stat_statements,
 * `npx tsx bench/bulk.ts --pg-stats`). A bitmap scan, the other guess, reads every
 * due entry before sorting: on a backlog, all of them. Local to the claim's transaction.
 */
const walkDueIndex = (tx: Tx) => tx`select set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`;

/**
 * The claim of tasks a request has just created, inside that request's transaction:
 * a task due within the horizon is held by the node that created it from the moment
 * the create commits, so it fires on time even if the database goes away right after
 * (no claimer poll has to find it first). The rows are new in this transaction, so
 * nobody else can hold their locks.
 */
export async function occurrencesClaimOfTasks(
  tx: Tx,
  opts: ClaimOptions & { taskIds: string[] },
): Promise<ClaimedRun[]> {
  if (!opts.taskIds.length || opts.limit <= 0) return [];
  const due = await tx<ClaimableTask[]>`
    select ${claimableColumns(tx)}
    from tasks
    where id = any(${opts.taskIds}::uuid[]) and next_run_at <= ${opts.horizon} and state = 'active'
    order by next_run_at
    limit ${opts.limit}
    for update`;
  return (await claimLocked(tx, due, opts)).claimed;
}

interface ClaimOptions {
  nodeId: string;
  horizon: Date;
  limit: number;
  plan: (task: DueTask) => ClaimPlan;
}

type ClaimableTask = DueTask & { actionType: Action['type'] } & TaskDelivery;

const claimableColumns = (sql: Sql | Tx) => sql`
  id, kind, cron_expression, timezone, start_at, end_at, misfire_policy, next_run_at,
  action->>'type' as action_type, name as task_name, action, payload, overlap_policy, max_lateness_ms`;

/** Turns locked due tasks into runs owned by this node and moves each task on. */
async function claimLocked(tx: Tx, due: ClaimableTask[], opts: ClaimOptions): Promise<{ claimed: ClaimedRun[]; tasks: number; moreDue: boolean }> {
  if (!due.length) return { claimed: [], tasks: 0, moreDue: false };

  // Rows travel as one JSON parameter: postgres.js array parameters mangle nulls and
  // booleans, and json_to_recordset is one parse on the server for the whole batch.
  const runs: { task_id: string; at: string; status: string; reason: string | null; late: boolean }[] = [];
  const moves: { id: string; next: string | null; state: string }[] = [];
  for (const t of due) {
    const plan = opts.plan(t);
    for (const r of plan.runs) {
      runs.push({ task_id: t.id, at: r.scheduledFor.toISOString(), status: r.status, reason: r.reason, late: r.late });
    }
    moves.push({ id: t.id, next: plan.nextRunAt ? plan.nextRunAt.toISOString() : null, state: plan.state });
  }

  const inserted = runs.length
    ? await tx<(Pick<ClaimedRun, 'id' | 'taskId' | 'scheduledFor' | 'attempt' | 'late' | 'trigger' | 'reason'> & { status: string })[]>`
        insert into runs (task_id, scheduled_for, status, reason, late, attempt, node_id, claimed_at, finished_at)
        select v.task_id, v.at, v.status, v.reason, v.late,
               case when v.status = 'pending' then 1 else 0 end,
               case when v.status = 'pending' then ${opts.nodeId} end,
               now(),
               case when v.status = 'skipped' then now() end
        from json_to_recordset(${JSON.stringify(runs)}::text::json)
             as v(task_id uuid, at timestamptz, status text, reason text, late boolean)
        on conflict (task_id, scheduled_for, trigger) do nothing
        returning id, task_id, scheduled_for, attempt, late, trigger, reason, status`
    : [];

  await tx`
    update tasks t set next_run_at = v.next, state = v.state
    from json_to_recordset(${JSON.stringify(moves)}::text::json) as v(id uuid, next timestamptz, state text)
    where t.id = v.id`;

  const taskOf = new Map(due.map((t) => [t.id, t]));
  const claimed: ClaimedRun[] = [];
  // One object literal with every field, not `{ ...rest }`: past a few thousand objects
  // V8 gives each spread copy a map of its own (~550 bytes a held run).
  for (const r of inserted) {
    if (r.status !== 'pending') continue;
    const t = taskOf.get(r.taskId)!;
    claimed.push({
      id: r.id,
      taskId: r.taskId,
      scheduledFor: r.scheduledFor,
      attempt: r.attempt,
      late: r.late,
      trigger: r.trigger,
      reason: r.reason,
      actionType: t.actionType,
      kind: t.kind,
      misfirePolicy: t.misfirePolicy,
      rescued: false,
      taskName: t.taskName,
      action: t.action,
      payload: t.payload,
      overlapPolicy: t.overlapPolicy,
      maxLatenessMs: t.maxLatenessMs,
      retryOf: null,
      idempotencyKey: null,
      deliveries: null,
    });
  }
  // a recurring task may already have its next occurrence inside the horizon
  const moreDue = moves.some((m) => m.next !== null && m.next <= opts.horizon.toISOString());
  return { claimed, tasks: due.length, moreDue };
}

/** A held run's columns, from runs `r` joined with its task `t`: one list for every statement that hands runs to the executor. */
const claimedColumns = (sql: Sql | Tx) => sql`
  r.id, r.task_id, r.scheduled_for, r.attempt, r.late, r.trigger, r.reason, t.kind, t.misfire_policy,
  t.action->>'type' as action_type, t.name as task_name, t.action, t.payload, t.overlap_policy, t.max_lateness_ms,
  r.retry_of, r.idempotency_key, r.deliveries`;

/**
 * Runs that are pending with no live owner: manual triggers, runs handed back by a
 * draining node, and (with `lapsed`) runs of a node whose lease lapsed (crashed or
 * frozen). The claim bumps `attempt`, which fences the previous owner's late result.
 */
export async function runsClaimOrphaned(
  sql: Sql,
  opts: { nodeId: string; horizon: Date; limit: number; lapsed: boolean },
): Promise<ClaimedRun[]> {
  return sql<ClaimedRun[]>`
    update runs r set node_id = ${opts.nodeId}, attempt = r.attempt + 1, claimed_at = now()
    from tasks t
    where t.id = r.task_id and r.id in (
      -- Only ownerless runs and runs of nodes whose lease lapsed: both come straight
      -- from runs_open_owner_idx, so the live nodes' (possibly many) held runs are
      -- never scanned.
      select o.id from runs o
      where o.status in ('pending', 'running') and o.scheduled_for <= ${opts.horizon}
        and (o.node_id is null
             -- never this node's own: what it owns it either holds, or finds by reconcile
             -- (runsPendingOfNode); bumping its attempt here would fence its own buffered
             -- results and leave the run pending on a live node that does not hold it
             or (${opts.lapsed} and o.node_id = any(array(select id from nodes where lease_until < now() and id <> ${opts.nodeId}))
                 -- decided on the rescuer's own valid lease: a claim that waited out an
                 -- outage in the pool (all leases lapsed) must not rescue on arrival
                 and exists (select 1 from nodes me where me.id = ${opts.nodeId} and me.lease_until >= now())))
      order by o.scheduled_for
      limit ${opts.limit}
      for update of o skip locked)
    returning ${claimedColumns(sql)}, true as rescued`;
}

/**
 * This node's own pending runs, optionally of some tasks only. After a claim whose COMMIT may
 * have reached the server while the connection broke, the node owns runs it never
 * received; the rescue never looks at a live node's runs, so the node finds them here
 * (runs_open_owner_idx) and adopts or releases them. Also used to re-read held runs
 * after their task was edited.
 */
export async function runsPendingOfNode(sql: Sql, nodeId: string, taskIds?: string[]): Promise<ClaimedRun[]> {
  return onPrimary(sql, (tx) => tx<ClaimedRun[]>`
    select ${claimedColumns(tx)}, false as rescued
    from runs r join tasks t on t.id = r.task_id
    where r.node_id = ${nodeId} and r.status = 'pending'
      ${taskIds ? tx`and r.task_id = any(${taskIds}::uuid[])` : tx``}`);
}

/**
 * A read that decides what this node fires, in a read-write transaction: a hot standby
 * refuses to begin one (SQLSTATE 25006), so the read fails there instead of answering
 * from behind. After a failover part of a pool can sit on a standby for seconds (see
 * db.ts); a reconcile read there can see runs the primary has already completed as still
 * pending, and adopt and send them again. That is the likely cause of 168 deliveries that
 * arrived twice in one failover drill at 20/s (their second results fenced, so the ledger
 * held one attempt each); 0 in the four drills since.
 */
function onPrimary<T>(sql: Sql, read: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin('read write', read) as Promise<T>;
}

/**
 * A task's delivery fields as they are now: an edit that keeps held occurrences pending
 * (a new URL, body or payload) reaches them through this read, before they fire.
 */
export async function taskDeliveryGet(sql: Sql, taskId: string): Promise<(TaskDelivery & { actionType: Action['type'] }) | undefined> {
  const [row] = await sql<(TaskDelivery & { actionType: Action['type'] })[]>`
    select name as task_name, action, payload, overlap_policy, max_lateness_ms, action->>'type' as action_type
    from tasks where id = ${taskId} and state <> 'deleted'`;
  return row;
}

/**
 * Occurrences claimable by `until` that nobody holds: tasks due and not yet claimed,
 * plus ownerless runs (handed back). Each part counted up to `cap` on its index, so
 * it stays cheap; claimers share out this much of the claim-ahead work.
 */
export async function occurrencesClaimableCount(sql: Sql, until: Date, cap: number): Promise<number> {
  const [row] = await sql<{ n: string }[]>`
    select (select count(*) from (select 1 from tasks where next_run_at <= ${until} limit ${cap}) d)
         + (select count(*) from (select 1 from runs
                                  where node_id is null and status in ('pending', 'running') and scheduled_for <= ${until}
                                  limit ${cap}) o) as n`;
  return Number(row?.n ?? 0);
}

/** Which of these held runs are still this node's (same attempt, still pending): after its lease lapsed. */
export async function runsStillOwned(sql: Sql, nodeId: string, runs: { id: string; attempt: number }[]): Promise<Set<string>> {
  if (!runs.length) return new Set();
  // from the primary only (onPrimary): a standby behind a rescue would still call them ours
  const rows = await onPrimary(sql, (tx) => tx<{ id: string }[]>`
    select r.id from runs r
    join json_to_recordset(${JSON.stringify(runs)}::text::json) as v(id bigint, attempt int)
      on r.id = v.id and r.attempt >= v.attempt
    where r.node_id = ${nodeId} and r.status = 'pending'`);
  return new Set(rows.map((r) => r.id));
}

/**
 * Hands back some held runs (fenced by attempt), for other nodes to claim: a node
 * holding more than its share of the claim-ahead work, or adopting more than it has
 * room for. Returns the ids released; a NOTIFY wakes the claimers.
 */
export async function runsReleaseSome(sql: Sql, nodeId: string, runs: { id: string; attempt: number }[]): Promise<Set<string>> {
  if (!runs.length) return new Set();
  const rows = await sql<{ id: string }[]>`
    with released as (
      update runs r set node_id = null
      from json_to_recordset(${JSON.stringify(runs)}::text::json) as v(id bigint, attempt int)
      where r.id = v.id and r.attempt >= v.attempt and r.node_id = ${nodeId} and r.status = 'pending'
      returning r.id
    ), n as (select ${noticeSql(sql, { t: 'wake' })} where exists (select 1 from released))
    select id from released left join n on true`;
  return new Set(rows.map((r) => r.id));
}

export interface RunResult {
  id: string;
  attempt: number;
  status: 'succeeded' | 'failed' | 'skipped';
  startedAt: Date | null;
  finishedAt: Date;
  late: boolean;
  reason: string | null;
  /** webhook runs: every attempt; left as stored when absent */
  deliveries?: Delivery[];
}

/**
 * Records results in one statement per batch, fenced by owner and attempt: a node
 * that lost its lease (frozen, partitioned) cannot overwrite the result of the node
 * that took its runs over. The fence is the owner plus "no older attempt than the one
 * it holds": a run taken over and later rescued back by the same node (attempt bumped
 * twice) is still that node's, and the execution it buffered is the run's only one on
 * it (a node holds one copy of a run, whatever its attempt). The same fence guards
 * the other writes of a held run (webhook start and progress, hand-back, still-owned
 * check). One NOTIFY for the whole batch tells live views.
 * Returns the ids that were accepted.
 */
export async function runsComplete(sql: Sql, nodeId: string, results: RunResult[]): Promise<string[]> {
  if (!results.length) return [];
  return sql.begin(async (tx) => {
    // A hash join of the batch with runs, always. Left to its statistics, the planner
    // estimates the fenced run rows at ~1 (a fresh table, or one analyzed while few runs
    // were open) and picks a nested loop that re-reads the whole batch for every run
    // row: quadratic, measured at 1.5 s for one 2,000-row batch and 16 s of stalled
    // recording in a 10,000-task burst. With the hash join the same batch takes ~20 ms.
    await tx`set local enable_nestloop = off`;
    const rows = await runsCompleteStatement(tx, nodeId, results);
    if (rows.length) await notify(tx, { t: 'runs', node: nodeId, count: rows.length });
    return rows.map((r) => r.id);
  });
}

/**
 * The fenced update of runsComplete, not yet executed (postgres.js runs a query when it
 * is awaited): the benchmark EXPLAINs this very statement rather than a copy of it.
 */
export function runsCompleteStatement(tx: Sql | Tx, nodeId: string, results: RunResult[]) {
  const batch = JSON.stringify(
    results.map((r) => ({
      id: r.id,
      attempt: r.attempt,
      status: r.status,
      started_at: r.startedAt?.toISOString() ?? null,
      finished_at: r.finishedAt.toISOString(),
      late: r.late,
      reason: r.reason,
      deliveries: r.deliveries,
    })),
  );
  return tx<{ id: string }[]>`
    with v as (
      select * from json_to_recordset(${batch}::text::json)
        as v(id bigint, attempt int, status text, started_at timestamptz, finished_at timestamptz, late boolean,
             reason text, deliveries jsonb)
    )
    update runs r set status = v.status, started_at = v.started_at, finished_at = v.finished_at,
                      late = v.late, reason = coalesce(v.reason, r.reason), deliveries = coalesce(v.deliveries, r.deliveries)
    from v
    where r.id = any(${results.map((r) => r.id)}::bigint[])
      and r.id = v.id and r.attempt >= v.attempt
      -- The fence, written so no index serves it: otherwise the planner reads every
      -- run this node holds (runs_open_owner_idx; 100,000 in a burst) to find the
      -- batch's 2,000, instead of looking them up by primary key.
      and coalesce(r.node_id, '') = ${nodeId}
      and coalesce(r.status, '') in ('pending', 'running')
    returning r.id`;
}

/** Namespace of the per-task advisory lock that serializes webhook starts (overlap check). */
const OVERLAP_LOCK = 0x57424b; // 'WBK'

export interface WebhookStart {
  status: 'running' | 'skipped';
  taskName: string;
  action: Action;
  payload: unknown;
  /** attempts made by earlier owners of this run (a rescued run continues their count) */
  deliveries: Delivery[] | null;
}

/**
 * Marks a claimed webhook run `running` at the instant it fires, fenced like
 * runsComplete; returns what the request needs (the task as it is now), or undefined
 * if this node no longer owns the run. With overlap policy `skip`, a run of the same
 * task still in progress on a live node makes this one `skipped` instead. The
 * per-task advisory lock makes that check and the update one step across nodes.
 * Only webhook runs come here; `log` runs keep their single batched write.
 */
export async function runsStartWebhook(
  sql: Sql,
  r: { id: string; attempt: number; nodeId: string; taskId: string; startedAt: Date },
): Promise<WebhookStart | undefined> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${OVERLAP_LOCK}, hashtext(${r.taskId}))`;
    const [row] = await tx<WebhookStart[]>`
      with busy as (
        select exists (
          select 1 from runs o join nodes n on n.id = o.node_id
          where o.task_id = ${r.taskId} and o.status = 'running' and o.id <> ${r.id}
            and n.lease_until >= now() and n.stopped_at is null) as yes
      )
      update runs u set
        status = case when t.overlap_policy = 'skip' and busy.yes then 'skipped' else 'running' end,
        started_at = case when t.overlap_policy = 'skip' and busy.yes then null else ${r.startedAt}::timestamptz end,
        finished_at = case when t.overlap_policy = 'skip' and busy.yes then now() end,
        reason = case when t.overlap_policy = 'skip' and busy.yes then 'overlap: previous run still in progress' else u.reason end
      from tasks t, busy
      where u.id = ${r.id} and u.attempt >= ${r.attempt} and u.node_id = ${r.nodeId}
        and u.status in ('pending', 'running') and t.id = u.task_id
      returning u.status, t.name as task_name, t.action, t.payload, u.deliveries`;
    if (row?.status === 'skipped') {
      await notify(tx, { t: 'runs', node: r.nodeId, count: 1 });
    }
    return row;
  });
}

export interface RunProgress {
  id: string;
  attempt: number;
  /** set once: when the run's first request was sent (it becomes `running`) */
  startedAt?: Date;
  /** the attempts so far, when one was made */
  deliveries?: Delivery[];
}

/**
 * Webhook runs in progress, in one statement per batch, fenced by owner and attempt:
 * marks runs `running` with the time their first request went out, and saves the
 * attempts of runs being retried so the run log shows them. Returns the ids still
 * ours (a run taken over by another node is not, and gets no more attempts from here).
 */
export async function runsProgressSave(sql: Sql, nodeId: string, items: RunProgress[]): Promise<string[]> {
  if (!items.length) return [];
  const batch = JSON.stringify(
    items.map((r) => ({ id: r.id, attempt: r.attempt, started_at: r.startedAt?.toISOString() ?? null, deliveries: r.deliveries ?? null })),
  );
  return sql.begin(async (tx) => {
    await tx`set local enable_nestloop = off`;
    const rows = await tx<{ id: string }[]>`
      with v as (
        select * from json_to_recordset(${batch}::text::json) as v(id bigint, attempt int, started_at timestamptz, deliveries jsonb)
      )
      update runs r set status = 'running',
                        started_at = coalesce(r.started_at, v.started_at),
                        deliveries = coalesce(v.deliveries, r.deliveries)
      from v
      where r.id = any(${items.map((r) => r.id)}::bigint[])
        and r.id = v.id and r.attempt >= v.attempt
        and coalesce(r.node_id, '') = ${nodeId}
        and coalesce(r.status, '') in ('pending', 'running')
      returning r.id`;
    return rows.map((r) => r.id);
  });
}

/**
 * A draining node hands back webhook runs it was delivering: they stay `running`, with
 * their attempts so far, and another node takes them over (attempt + 1) and continues.
 */
export async function runsReleaseDeliveries(
  sql: Sql,
  nodeId: string,
  runs: { id: string; attempt: number; deliveries: Delivery[] }[],
): Promise<number> {
  if (!runs.length) return 0;
  const rows = await sql`
    with released as (
      update runs r set node_id = null, deliveries = v.deliveries
      from json_to_recordset(${JSON.stringify(runs)}::text::json) as v(id bigint, attempt int, deliveries jsonb)
      where r.id = v.id and r.attempt = v.attempt and r.node_id = ${nodeId} and r.status in ('pending', 'running')
      returning r.id
    )
    select count(*) as n, ${noticeSql(sql, { t: 'wake' })} from released`;
  return Number(rows[0]?.n ?? 0);
}

/** A draining node hands back what it claimed but has not fired, for others to fire on time. */
export async function runsRelease(sql: Sql, nodeId: string): Promise<number> {
  const rows = await sql`
    with released as (
      update runs set node_id = null where node_id = ${nodeId} and status = 'pending' returning id
    )
    select count(*) as n, ${noticeSql(sql, { t: 'wake' })} from released`;
  return Number(rows[0]?.n ?? 0);
}

/** A manual run of a task, due now; undefined if the task does not exist (or was deleted). */
export async function runInsertManual(sql: Sql, taskId: string): Promise<RunRow | undefined> {
  return sql.begin(async (tx) => {
    const [run] = await tx<RunRow[]>`
      insert into runs (task_id, scheduled_for, trigger, status, reason)
      select id, now(), 'manual', 'pending', 'run now' from tasks where id = ${taskId} and state <> 'deleted'
      returning *, (select name from tasks where id = ${taskId}) as task_name, (select key from tasks where id = ${taskId}) as task_key`;
    if (run) {
      await notify(tx, { t: 'task', id: taskId, change: 'triggered', wake: true });
    }
    return run;
  });
}

export type RetryOutcome =
  | { ok: true; run: RunRow }
  | { ok: false; why: 'not-found' | 'not-retryable' | 'in-progress'; detail: string; retryId?: string };

/**
 * Redrives a failed webhook run: a new pending run of the same task, linked to it by
 * retry_of, with the original occurrence's Idempotency-Key; the failed run is left as
 * it was. Locking the failed run serializes concurrent retries of it, so the check for
 * a redrive in progress and the insert are one step. Any live node picks the new run
 * up like a manual trigger (ownerless and pending), with its own attempts and lag.
 */
export async function runRetry(sql: Sql, id: string, requestedBy: string | null): Promise<RetryOutcome> {
  return sql.begin(async (tx) => {
    const [orig] = await tx<{ id: string; taskId: string; status: string; scheduledFor: Date; deliveries: unknown; idempotencyKey: string | null; taskState: string }[]>`
      select r.id, r.task_id, r.status, r.scheduled_for, r.deliveries, r.idempotency_key, t.state as task_state
      from runs r join tasks t on t.id = r.task_id where r.id = ${id} for update of r`;
    if (!orig) return { ok: false, why: 'not-found', detail: `run ${id} does not exist` };
    if (orig.status !== 'failed' || orig.deliveries === null) {
      return { ok: false, why: 'not-retryable', detail: `run ${id} is ${orig.status === 'failed' ? 'a failed run without webhook attempts' : orig.status}; only failed webhook runs can be retried` };
    }
    if (orig.taskState === 'deleted') return { ok: false, why: 'not-retryable', detail: `the task of run ${id} was deleted` };
    const [open] = await tx<{ id: string }[]>`
      select id from runs where retry_of = ${id} and status in ('pending', 'running') limit 1`;
    if (open) return { ok: false, why: 'in-progress', detail: `run ${open.id} is already retrying run ${id}`, retryId: open.id };
    const key = orig.idempotencyKey ?? `${orig.taskId}:${orig.scheduledFor.toISOString()}`;
    const [run] = await tx<RunRow[]>`
      insert into runs (task_id, scheduled_for, trigger, status, reason, retry_of, idempotency_key)
      values (${orig.taskId}, now(), 'manual', 'pending',
              ${`retry of run ${id}${requestedBy ? ` (token ${requestedBy})` : ''}`}, ${id}, ${key})
      returning *, (select name from tasks where id = ${orig.taskId}) as task_name`;
    await notify(tx, { t: 'wake' });
    return { ok: true, run: run! };
  });
}

/** Ids of the failed webhook runs of a task or an origin, newest first (bulk redrive). */
export async function runsFailedWebhookIds(sql: Sql, f: { taskId?: string; origin?: string; limit: number }): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select r.id from runs r join tasks t on t.id = r.task_id
    where r.status = 'failed' and r.deliveries is not null and t.state <> 'deleted'
      ${f.taskId ? sql`and r.task_id = ${f.taskId}` : sql``}
      ${f.origin ? originFilter(sql, f.origin) : sql``}
      and not exists (select 1 from runs o where o.retry_of = r.id and o.status in ('pending', 'running'))
    order by r.scheduled_for desc limit ${f.limit}`;
  return rows.map((r) => r.id);
}

/** Tasks whose webhook URL (as written) is on this origin: the origin itself, or it followed by a path or query. */
function originFilter(sql: Sql, origin: string) {
  return sql`and t.action->>'type' = 'webhook'
    and (t.action->>'url' = ${origin} or starts_with(t.action->>'url', ${origin + '/'}) or starts_with(t.action->>'url', ${origin + '?'}))`;
}

export interface RunListFilter {
  /** webhook origin, normalized (scheme://host[:port]) */
  origin?: string;
  taskId?: string;
  keyPrefix?: string;
  nodeId?: string;
  status?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** the previous page's end: scheduled_for in microseconds since the epoch, and id */
  after?: { us: string; id: string };
}

/**
 * Runs whose task's key starts with `keyPrefix` are found through the two key indexes
 * (live tasks, deleted tasks), so a departed user's history stays reachable.
 */
export async function runList(sql: Sql, f: RunListFilter): Promise<(RunRow & { cursorUs: string })[]> {
  const range = f.keyPrefix ? keyRange(f.keyPrefix) : null;
  return sql<(RunRow & { cursorUs: string })[]>`
    select r.*, t.name as task_name, t.key as task_key, ${cursorUs(sql, 'r.scheduled_for')} as cursor_us from runs r join tasks t on t.id = r.task_id
    where true
      ${range ? sql`and r.task_id in (
        select k.id from tasks k where k.state <> 'deleted' and k.key is not null
          and (k.key collate "C") >= ${range[0]} and (k.key collate "C") < ${range[1]}
        union all
        select k.id from tasks k where k.state = 'deleted' and k.key is not null
          and (k.key collate "C") >= ${range[0]} and (k.key collate "C") < ${range[1]})` : sql``}
      ${f.taskId ? sql`and r.task_id = ${f.taskId}` : sql``}
      ${f.origin ? originFilter(sql, f.origin) : sql``}
      ${f.nodeId ? sql`and r.node_id = ${f.nodeId}` : sql``}
      ${f.status ? sql`and r.status = ${f.status}` : sql``}
      ${f.from ? sql`and r.scheduled_for >= ${f.from}` : sql``}
      ${f.to ? sql`and r.scheduled_for < ${f.to}` : sql``}
      ${f.after ? sql`and (r.scheduled_for, r.id) < (${cursorAt(sql, f.after.us)}, ${f.after.id}::bigint)` : sql``}
    order by r.scheduled_for desc, r.id desc
    limit ${f.limit}`;
}

export async function runGet(sql: Sql, id: string): Promise<RunRow | undefined> {
  const [row] = await sql<RunRow[]>`
    select r.*, t.name as task_name, t.key as task_key from runs r join tasks t on t.id = r.task_id where r.id = ${id}`;
  return row;
}

export interface RunStatsRow {
  lastMinute: number;
  failed: number;
  skipped: number;
  pending: number;
  total: number;
}

export async function runStats(sql: Sql): Promise<RunStatsRow> {
  const [row] = await sql`
    select
      (select count(*) from runs where finished_at > now() - interval '1 minute') as last_minute,
      (select count(*) from runs where status in ('pending', 'running')) as pending,
      (select greatest(reltuples, 0)::bigint from pg_class where oid = 'runs'::regclass) as estimate,
      (select count(*) from (select 1 from runs limit 100000) s) as exact_small`;
  const [byStatus] = await sql`
    select count(*) filter (where status = 'failed') as failed,
           count(*) filter (where status = 'skipped') as skipped
    from (select status from runs where finished_at > now() - interval '1 day' limit 200000) s`;
  const exactSmall = Number(row!.exactSmall);
  return {
    lastMinute: Number(row!.lastMinute),
    pending: Number(row!.pending),
    // an exact count is cheap below 100k rows; above it the planner's estimate serves a dashboard
    total: exactSmall < 100_000 ? exactSmall : Number(row!.estimate),
    failed: Number(byStatus!.failed),
    skipped: Number(byStatus!.skipped),
  };
}

/** p50/p99 lag per minute over the last `minutes`, from at most the newest 20k runs. */
export async function runLagByMinute(sql: Sql, minutes = 30) {
  return sql<{ minute: Date; runs: string; p50: number | null; p99: number | null }[]>`
    select date_trunc('minute', started_at) as minute, count(*) as runs,
           percentile_cont(0.5) within group (order by lag) as p50,
           percentile_cont(0.99) within group (order by lag) as p99
    from (
      select started_at, extract(epoch from started_at - scheduled_for) * 1000 as lag
      from runs
      where finished_at > now() - make_interval(mins => ${minutes}) and started_at is not null
      order by finished_at desc limit 20000
    ) s
    group by 1 order by 1`;
}

export async function runsFiredByNode(sql: Sql, since: Date): Promise<Map<string, number>> {
  const rows = await sql<{ nodeId: string; n: string }[]>`
    select node_id, count(*) as n from runs
    where finished_at > ${since} and node_id is not null and started_at is not null
    group by node_id`;
  return new Map(rows.map((r) => [r.nodeId, Number(r.n)]));
}

/** Deletes finished runs older than the retention, in batches to keep transactions short. */
export async function runsPrune(sql: Sql, olderThan: Date, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql`
      delete from runs where id = any(array(
        select id from runs where finished_at < ${olderThan} limit ${batch}))
      returning 1`;
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
