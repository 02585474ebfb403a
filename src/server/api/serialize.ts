import type { Action, Run, Task } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import type { RunRow } from '../store/runs.js';
import type { TaskRow, TaskWithLastRun } from '../store/tasks.js';
import { scheduleCron } from '../time/schedule.js';
import { scheduleOf } from './task-input.js';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function describeTask(t: TaskRow): string {
  if (t.kind === 'once') return `Once at ${t.runAt!.toISOString().replace('T', ' ').replace('.000Z', ' UTC').replace(/\.(\d{3})Z$/, '.$1 UTC')}`;
  try {
    return scheduleCron(t).describe();
  } catch {
    return t.cronExpression!;
  }
}

/** What a read-only token sees of a webhook: header values often hold credentials. */
export function redactAction(action: Action): Action {
  if (action.type !== 'webhook' || !action.headers) return action;
  return { ...action, headers: Object.fromEntries(Object.keys(action.headers).map((k) => [k, REDACTED])) };
}
export const REDACTED = '[redacted]';

/**
 * The task's next occurrence as a client sees it: an occurrence claimed ahead (held by a
 * node, not fired) comes before the task's own next_run_at, which the claim moved on.
 */
export function nextOccurrence(t: TaskRow | TaskWithLastRun): Date | null {
  const held = (t as Partial<TaskWithLastRun>).heldNextAt ?? null;
  if (!held) return t.nextRunAt;
  return !t.nextRunAt || held < t.nextRunAt ? held : t.nextRunAt;
}

export function taskOut(t: TaskRow | TaskWithLastRun, upcoming?: Date[], opts: { redact?: boolean } = {}): Task {
  const lr = t as Partial<TaskWithLastRun>;
  // a one-time task whose occurrence is claimed but not yet fired is still to come
  const state = t.state === 'deleted' ? 'completed' : t.state === 'completed' && lr.heldNextAt ? 'active' : t.state;
  return {
    id: t.id,
    key: t.key ?? null,
    name: t.name,
    kind: t.kind,
    schedule: scheduleOf(t),
    description: describeTask(t),
    payload: t.payload,
    action: opts.redact ? redactAction(t.action) : t.action,
    misfirePolicy: t.misfirePolicy,
    overlapPolicy: t.overlapPolicy ?? 'allow',
    maxLatenessMs: t.maxLatenessMs ?? null,
    state,
    nextRunAt: iso(nextOccurrence(t)),
    version: t.version,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    lastRun: lr.lastRunId
      ? {
          id: lr.lastRunId,
          status: lr.lastRunStatus as Run['status'],
          scheduledFor: lr.lastRunScheduledFor!.toISOString(),
          startedAt: iso(lr.lastRunStartedAt),
        }
      : null,
    ...(upcoming ? { upcoming: upcoming.map((d) => d.toISOString()) } : {}),
  };
}

export function runOut(r: RunRow): Run {
  return {
    id: r.id,
    taskId: r.taskId,
    taskKey: r.taskKey ?? null,
    taskName: r.taskName,
    scheduledFor: r.scheduledFor.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    lagMs: r.startedAt ? r.startedAt.getTime() - r.scheduledFor.getTime() : null,
    status: r.status,
    attempt: r.attempt,
    nodeId: r.nodeId,
    trigger: r.trigger,
    late: r.late,
    reason: r.reason,
    deliveries: r.deliveries ?? null,
    retryOf: r.retryOf ?? null,
  };
}

/**
 * Opaque keyset cursors, base64url of [sort key, id]. A page's end: the sort instant in whole microseconds since the epoch (PostgreSQL's
 * precision: a Date's milliseconds lost, at a page boundary, the rows that shared the
 * boundary's millisecond, such as the rest of one batch's tasks) and the id.
 */
export function encodeCursor(us: string, id: string): string {
  return Buffer.from(JSON.stringify([us, id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { us: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof id !== 'string' || !/^[0-9a-f-]{1,36}$/i.test(id) || typeof at !== 'string') throw new Error();
    if (/^\d{1,17}$/.test(at)) return { us: at, id };
    // a cursor of an earlier version: an ISO instant
    const d = new Date(at);
    if (Number.isNaN(d.getTime())) throw new Error();
    return { us: String(d.getTime() * 1000), id };
  } catch {
    throw new ApiError('INVALID_CURSOR', 'cursor is not one this server returned', { field: 'cursor' });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function assertTaskId(id: string): string {
  if (!UUID.test(id)) throw new ApiError('TASK_NOT_FOUND', `no task with id ${JSON.stringify(id.slice(0, 80))}`, { field: 'id' });
  return id;
}
