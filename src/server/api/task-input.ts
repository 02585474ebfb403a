// Request bodies → rows, with every check that JSON Schema cannot express: the
// schedule's meaning (cron semantics, time zone, bounds, past instants) and sizes.
import { createHash } from 'node:crypto';
import type { Action, Schedule, TaskCreate, TaskPatch, WebhookAction } from '../../shared/schemas.js';
import { LIMITS } from '../../shared/schemas.js';
import { ApiError, fieldError } from '../errors.js';
import { compileCron, ScheduleError } from '../time/cron.js';
import { firstOccurrence } from '../time/schedule.js';
import type { TaskChange, TaskInsert, TaskRow } from '../store/tasks.js';
import { BlockedTargetError, checkLiteral, EMPTY_ALLOW_LIST, type AllowList } from '../webhooks/ssrf.js';

export interface InputOptions {
  /** the SSRF allow-list: a webhook URL naming a refused IP literal is rejected at once */
  allow?: AllowList;
  /** keyed puts: a past one-time instant is judged against the task it replaces (replacePlan) */
  allowPast?: boolean;
}

/** The action of a task that names none (one object: actions are never changed in place). */
const LOG_ACTION: Action = Object.freeze({ type: 'log' });

export const WEBHOOK_DEFAULTS = { method: 'POST', timeoutMs: 10_000, maxAttempts: 3 } as const;

/** Headers Sundial sets itself, or that would change how the request is framed or routed. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'expect', 'idempotency-key',
]);

/**
 * Checks what the schema cannot (URL shape, reserved headers, body size) and fills in
 * the defaults, so a stored webhook says exactly what will be sent.
 */
export function checkAction(action: Action, opts: InputOptions = {}): Action {
  if (action.type !== 'webhook') return action;
  const field = 'action';
  let url: URL;
  try {
    url = new URL(action.url);
  } catch {
    throw fieldError('VALIDATION_FAILED', `${field}.url`, `${field}.url is not a valid absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fieldError('VALIDATION_FAILED', `${field}.url`, `${field}.url must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password) {
    throw fieldError('VALIDATION_FAILED', `${field}.url`, `${field}.url must not contain credentials; send them in a header`);
  }
  try {
    checkLiteral(url.hostname, opts.allow ?? EMPTY_ALLOW_LIST);
  } catch (err) {
    if (err instanceof BlockedTargetError) {
      throw fieldError('VALIDATION_FAILED', `${field}.url`, `${field}.url is ${err.message} (open it with SUNDIAL_WEBHOOK_ALLOW)`);
    }
    throw err;
  }
  const method = action.method ?? WEBHOOK_DEFAULTS.method;
  const seen = new Set<string>();
  for (const name of Object.keys(action.headers ?? {})) {
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('sundial-')) {
      throw fieldError('VALIDATION_FAILED', `${field}.headers.${name}`, `header ${name} is set by Sundial and cannot be overridden`);
    }
    if (seen.has(lower)) throw fieldError('VALIDATION_FAILED', `${field}.headers.${name}`, `header ${name} is given twice`);
    seen.add(lower);
  }
  if (action.body !== undefined) {
    if (method === 'GET') throw fieldError('VALIDATION_FAILED', `${field}.body`, 'a GET request has no body');
    const bytes = Buffer.byteLength(typeof action.body === 'string' ? action.body : JSON.stringify(action.body));
    if (bytes > LIMITS.payloadMaxBytes) {
      throw fieldError('PAYLOAD_TOO_LARGE', `${field}.body`, `${field}.body is ${bytes} bytes; the limit is ${LIMITS.payloadMaxBytes}`, {
        limit: LIMITS.payloadMaxBytes,
      });
    }
  }
  const out: WebhookAction = {
    type: 'webhook',
    url: action.url,
    method,
    ...(action.headers && Object.keys(action.headers).length ? { headers: action.headers } : {}),
    ...(action.body !== undefined ? { body: action.body } : {}),
    timeoutMs: action.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs,
    maxAttempts: action.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts,
  };
  return out;
}

/** Earliest and latest instants we accept: a typo like year 20260 is an error, not a plan. */
const MIN_INSTANT = Date.UTC(2000, 0, 1);
const MAX_INSTANT = Date.UTC(2200, 0, 1);
/** A one-time task this far in the past is still "now" (client clock skew, latency). */
const PAST_TOLERANCE_MS = 1000;

const isPast = (at: Date, now: Date) => at.getTime() < now.getTime() - PAST_TOLERANCE_MS;

function instant(value: string, field: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw fieldError('VALIDATION_FAILED', field, `${field} is not a valid date-time`);
  if (d.getTime() < MIN_INSTANT || d.getTime() >= MAX_INSTANT) {
    throw fieldError('VALIDATION_FAILED', field, `${field} must be between 2000-01-01 and 2200-01-01`);
  }
  return d;
}

function scheduleError(err: unknown): never {
  if (err instanceof ScheduleError) {
    throw fieldError(err.code === 'INVALID_TIMEZONE' ? 'INVALID_TIMEZONE' : 'INVALID_SCHEDULE', err.field, err.message);
  }
  throw err;
}

export function checkPayload(payload: unknown): unknown {
  const value = payload === undefined ? null : payload;
  const text = JSON.stringify(value);
  // a UTF-16 unit is at most 3 bytes of UTF-8: only a text near the limit is measured
  if (text.length * 3 <= LIMITS.payloadMaxBytes) return value;
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.payloadMaxBytes) {
    throw fieldError('PAYLOAD_TOO_LARGE', 'payload', `payload is ${bytes} bytes serialized; the limit is ${LIMITS.payloadMaxBytes}`, {
      limit: LIMITS.payloadMaxBytes,
    });
  }
  return value;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) throw fieldError('VALIDATION_FAILED', 'name', 'name must not be blank');
  return name;
}

type ScheduleColumns = Pick<TaskInsert, 'kind' | 'runAt' | 'cronExpression' | 'timezone' | 'startAt' | 'endAt' | 'nextRunAt'>;

/** Validates a schedule and computes its first occurrence from `now`. */
export function scheduleColumns(s: Schedule, now: Date, runImmediatelyIfPast: boolean): ScheduleColumns {
  if (s.type === 'once') {
    const at = instant(s.at, 'schedule.at');
    if (isPast(at, now) && !runImmediatelyIfPast) {
      throw fieldError('SCHEDULE_IN_PAST', 'schedule.at', `schedule.at ${at.toISOString()} is in the past; send "runImmediatelyIfPast": true to run it now`);
    }
    return { kind: 'once', runAt: at, cronExpression: null, timezone: 'UTC', startAt: null, endAt: null, nextRunAt: at };
  }
  const startAt = s.startAt ? instant(s.startAt, 'schedule.startAt') : null;
  const endAt = s.endAt ? instant(s.endAt, 'schedule.endAt') : null;
  const timezone = s.timezone ?? 'UTC';
  const expression = s.expression.trim();
  try {
    compileCron({ expression, timezone, startAt, endAt });
  } catch (err) {
    scheduleError(err);
  }
  const from = startAt && startAt > now ? startAt : now;
  const nextRunAt = firstOccurrence({ cronExpression: expression, timezone, startAt, endAt }, from);
  if (!nextRunAt && endAt && endAt <= now) {
    throw fieldError('INVALID_SCHEDULE', 'schedule.endAt', 'schedule.endAt is in the past: the schedule would never fire');
  }
  if (!nextRunAt) throw fieldError('INVALID_SCHEDULE', 'schedule.expression', 'the schedule has no occurrence between its bounds');
  return { kind: 'cron', runAt: null, cronExpression: expression, timezone, startAt, endAt, nextRunAt };
}

export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

export function taskInsertFromCreate(body: TaskCreate, now: Date, idempotencyKey: string | null, opts: InputOptions = {}): TaskInsert {
  const cols = scheduleColumns(body.schedule, now, body.runImmediatelyIfPast ?? (opts.allowPast || false));
  // the fields one by one, not a spread of cols: a batch makes a thousand of these
  return {
    key: body.key ?? null,
    name: checkName(body.name),
    kind: cols.kind,
    runAt: cols.runAt,
    cronExpression: cols.cronExpression,
    timezone: cols.timezone,
    startAt: cols.startAt,
    endAt: cols.endAt,
    nextRunAt: cols.nextRunAt,
    payload: checkPayload(body.payload),
    action: body.action ? checkAction(body.action, opts) : LOG_ACTION,
    misfirePolicy: body.misfirePolicy ?? 'fire_once',
    overlapPolicy: body.overlapPolicy ?? 'allow',
    maxLatenessMs: body.maxLatenessMs ?? null,
    state: 'active',
    idempotencyKey,
    idempotencyHash: idempotencyKey ? requestHash(body) : null,
  };
}

/** JSON with object keys sorted: jsonb does not keep key order, so compare this way. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

const time = (d: Date | null) => (d ? d.getTime() : null);

function sameSchedule(a: TaskRow, b: TaskInsert): boolean {
  return (
    a.kind === b.kind &&
    time(a.runAt) === time(b.runAt) &&
    a.cronExpression === b.cronExpression &&
    a.timezone === b.timezone &&
    time(a.startAt) === time(b.startAt) &&
    time(a.endAt) === time(b.endAt)
  );
}

function sameDefinition(a: TaskRow, b: TaskInsert): boolean {
  return (
    a.name === b.name &&
    a.misfirePolicy === b.misfirePolicy &&
    a.overlapPolicy === b.overlapPolicy &&
    (a.maxLatenessMs ?? null) === (b.maxLatenessMs ?? null) &&
    canonical(a.payload ?? null) === canonical(b.payload ?? null) &&
    canonical(a.action) === canonical(b.action)
  );
}

/**
 * What a put (create-or-replace by key) does to the task holding the key. Keyed bodies
 * are parsed with past instants allowed (`allowPast`), because sending the same
 * definition again after a one-time task fired must change nothing; a past instant is
 * refused here only where it would create or reschedule.
 *  - identical definition: nothing (null); claimed occurrences stay;
 *  - same schedule, other fields: those fields change; state and next occurrence stay;
 *  - another schedule: restarts from it (a completed one-time task with a future `at`
 *    is active again), claimed occurrences of the old one are cancelled; a paused task
 *    stays paused.
 */
export function replacePlan(now: Date, runImmediatelyIfPast: (wanted: TaskInsert) => boolean) {
  const refusePast = (wanted: TaskInsert) => {
    if (wanted.kind === 'once' && isPast(wanted.runAt!, now) && !runImmediatelyIfPast(wanted)) {
      throw fieldError('SCHEDULE_IN_PAST', 'schedule.at', `schedule.at ${wanted.runAt!.toISOString()} is in the past; send "runImmediatelyIfPast": true to run it now`);
    }
  };
  return (current: TaskRow | undefined, wanted: TaskInsert): { row: TaskInsert; rescheduled: boolean } | null => {
    if (!current) {
      refusePast(wanted);
      return { row: wanted, rescheduled: false };
    }
    const schedule = sameSchedule(current, wanted);
    if (schedule && sameDefinition(current, wanted)) return null;
    if (schedule) return { row: { ...wanted, state: current.state, nextRunAt: current.nextRunAt }, rescheduled: false };
    refusePast(wanted);
    const paused = current.state === 'paused';
    return { row: { ...wanted, state: paused ? 'paused' : 'active', nextRunAt: paused ? null : wanted.nextRunAt }, rescheduled: true };
  };
}

export function scheduleOf(t: TaskRow): Schedule {
  if (t.kind === 'once') return { type: 'once', at: t.runAt!.toISOString() };
  return {
    type: 'cron',
    expression: t.cronExpression!,
    timezone: t.timezone,
    ...(t.startAt ? { startAt: t.startAt.toISOString() } : {}),
    ...(t.endAt ? { endAt: t.endAt.toISOString() } : {}),
  };
}

/**
 * PATCH semantics. A new schedule restarts the task from now (a completed one-time
 * task given a new future time becomes active again); a paused task stays paused and
 * picks the schedule up on resume.
 */
export function taskChangeFromPatch(body: TaskPatch, current: TaskRow, now: Date, opts: InputOptions = {}) {
  const change: TaskChange = {};
  if (body.name !== undefined) change.name = checkName(body.name);
  if (body.payload !== undefined) change.payload = checkPayload(body.payload);
  if (body.action !== undefined) change.action = checkAction(body.action, opts);
  if (body.misfirePolicy !== undefined) change.misfirePolicy = body.misfirePolicy;
  if (body.overlapPolicy !== undefined) change.overlapPolicy = body.overlapPolicy;
  if (body.maxLatenessMs !== undefined) change.maxLatenessMs = body.maxLatenessMs;
  let cancelPending: string | undefined;
  let wake = false;
  if (body.schedule !== undefined) {
    const cols = scheduleColumns(body.schedule, now, body.runImmediatelyIfPast ?? false);
    Object.assign(change, cols);
    if (current.state === 'paused') change.nextRunAt = null;
    else {
      change.state = 'active';
      wake = true;
    }
    cancelPending = 'schedule changed';
  }
  return { change, cancelPending, wake };
}

export function resumeChange(current: TaskRow, now: Date): TaskChange {
  if (current.state !== 'paused') throw new ApiError('TASK_NOT_ACTIVE', `task is ${current.state}, not paused`);
  if (current.kind === 'once') {
    // A one-time task whose time passed while paused fires now, marked late; nothing is dropped.
    return { state: 'active', nextRunAt: current.runAt };
  }
  const next = firstOccurrence(current, current.startAt && current.startAt > now ? current.startAt : now);
  return next ? { state: 'active', nextRunAt: next } : { state: 'completed', nextRunAt: null };
}
