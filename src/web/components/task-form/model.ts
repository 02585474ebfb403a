// The task form's logic as pure functions, so it is unit-tested without a DOM: the form's
// values, their conversion to the API's TaskCreate / TaskPatch, local checks that need no
// server, cron presets (which only *write* expressions; evaluating them is the server's job),
// and the mapping from the server's `details.field` to the input that shows the message.
import type { Action, MisfirePolicy, OverlapPolicy, Schedule, Task, TaskCreate, TaskPatch, WebhookAction, WebhookMethod } from '../../../shared/schemas';
import { LIMITS } from '../../lib/limits';
import { browserTimeZone, instantToZonedWallTime, isValidTimeZone, zonedWallTimeToInstant } from '../../lib/time';

export type TaskKind = 'once' | 'cron';

export interface TaskFormValues {
  name: string;
  kind: TaskKind;
  /** one-time: wall-clock date "YYYY-MM-DD" and time "HH:mm[:ss]" in `onceZone` */
  date: string;
  time: string;
  onceZone: string;
  runImmediatelyIfPast: boolean;
  /** recurring */
  expression: string;
  cronZone: string;
  /** optional bounds, wall-clock "YYYY-MM-DD HH:mm:ss" in `cronZone`, or '' */
  startAt: string;
  endAt: string;
  /** JSON text; '' means no payload */
  payload: string;
  misfirePolicy: MisfirePolicy;
  overlapPolicy: OverlapPolicy;
  /** what a run does: record itself (log) or call a URL */
  action: 'log' | 'webhook';
  webhookUrl: string;
  webhookMethod: WebhookMethod;
  /** JSON object text of extra headers; '' for none */
  webhookHeaders: string;
  /** JSON text of the request body; '' for Sundial's default body */
  webhookBody: string;
  /** '' for the server's default */
  webhookTimeoutMs: number | '';
  webhookMaxAttempts: number | '';
}

/** The inputs a message can be shown beside. */
export type FormField =
  | 'name'
  | 'at'
  | 'onceZone'
  | 'expression'
  | 'cronZone'
  | 'startAt'
  | 'endAt'
  | 'payload'
  | 'misfirePolicy'
  | 'overlapPolicy'
  | 'action'
  | 'webhookUrl'
  | 'webhookMethod'
  | 'webhookHeaders'
  | 'webhookBody'
  | 'webhookTimeoutMs'
  | 'webhookMaxAttempts';
export type FormErrors = Partial<Record<FormField, string>>;

export const DEFAULT_CRON = '0 9 * * 1-5';

function splitWall(wall: string): { date: string; time: string } {
  const [date = '', time = ''] = wall.split(' ');
  return { date, time };
}

/** A fresh form: a one-time task ten minutes from now (on a whole minute), in the browser's zone. */
export function emptyFormValues(now: number, zone = browserTimeZone()): TaskFormValues {
  const at = Math.ceil((now + 10 * 60_000) / 60_000) * 60_000;
  return {
    name: '',
    kind: 'once',
    ...splitWall(instantToZonedWallTime(new Date(at), zone)),
    onceZone: zone,
    runImmediatelyIfPast: false,
    expression: DEFAULT_CRON,
    cronZone: zone,
    startAt: '',
    endAt: '',
    payload: '',
    misfirePolicy: 'fire_once',
    overlapPolicy: 'allow',
    action: 'log',
    webhookUrl: '',
    webhookMethod: 'POST',
    webhookHeaders: '',
    webhookBody: '',
    webhookTimeoutMs: '',
    webhookMaxAttempts: '',
  };
}

function actionFormValues(action: Action | undefined): Partial<TaskFormValues> {
  if (!action || action.type !== 'webhook') return { action: 'log' };
  return {
    action: 'webhook',
    webhookUrl: action.url,
    webhookMethod: action.method ?? 'POST',
    webhookHeaders: action.headers && Object.keys(action.headers).length > 0 ? JSON.stringify(action.headers, null, 2) : '',
    webhookBody: action.body === undefined ? '' : JSON.stringify(action.body, null, 2),
    webhookTimeoutMs: action.timeoutMs ?? '',
    webhookMaxAttempts: action.maxAttempts ?? '',
  };
}

/** The form showing an existing task. One-time instants are shown in the browser's zone. */
export function formValuesFromTask(task: Task, now: number, zone = browserTimeZone()): TaskFormValues {
  const base = emptyFormValues(now, zone);
  const payload = task.payload === null || task.payload === undefined ? '' : JSON.stringify(task.payload, null, 2);
  const common = {
    ...base,
    ...actionFormValues(task.action),
    name: task.name,
    kind: task.kind,
    payload,
    misfirePolicy: task.misfirePolicy,
    overlapPolicy: task.overlapPolicy ?? 'allow',
  };
  const schedule = task.schedule;
  if (schedule.type === 'once') {
    return { ...common, ...splitWall(instantToZonedWallTime(schedule.at, zone)), onceZone: zone };
  }
  const cronZone = schedule.timezone ?? 'UTC';
  return {
    ...common,
    expression: schedule.expression,
    cronZone,
    startAt: schedule.startAt ? instantToZonedWallTime(schedule.startAt, cronZone) : '',
    endAt: schedule.endAt ? instantToZonedWallTime(schedule.endAt, cronZone) : '',
  };
}

/** The one-time instant the form describes, or null while it is incomplete. */
export function onceInstant(values: Pick<TaskFormValues, 'date' | 'time' | 'onceZone'>): Date | null {
  if (!values.date || !values.time) return null;
  return zonedWallTimeToInstant(`${values.date} ${values.time}`, values.onceZone);
}

function boundInstant(wall: string, zone: string): string | null {
  if (!wall.trim()) return null;
  return zonedWallTimeToInstant(wall, zone)?.toISOString() ?? null;
}

export type PayloadResult = { ok: true; value: unknown; present: boolean } | { ok: false; error: string };

const encoder = new TextEncoder();

export function parsePayload(text: string): PayloadResult {
  return parseJsonText(text, LIMITS.payloadMaxBytes);
}

function parseJsonText(text: string, maxBytes: number): PayloadResult {
  if (!text.trim()) return { ok: true, value: undefined, present: false };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^JSON\.parse: /, '') : '';
    return { ok: false, error: `Not valid JSON${detail ? `: ${detail}` : ''}` };
  }
  const bytes = encoder.encode(JSON.stringify(value)).length;
  if (bytes > maxBytes) {
    return { ok: false, error: `This is ${Math.ceil(bytes / 1024)} KiB; the limit is ${maxBytes / 1024} KiB` };
  }
  return { ok: true, value, present: true };
}

/** Checks that need no server. Schedules are validated by the server (preview and submit). */
export function validateLocally(values: TaskFormValues): FormErrors {
  const errors: FormErrors = {};
  const name = values.name.trim();
  if (!name) errors.name = 'Give the task a name';
  else if (name.length > LIMITS.nameMaxLength) errors.name = `At most ${LIMITS.nameMaxLength} characters`;
  if (values.kind === 'once') {
    if (!isValidTimeZone(values.onceZone)) errors.onceZone = 'Unknown time zone';
    else if (!values.date || !values.time) errors.at = 'Pick a date and a time';
    else if (!onceInstant(values)) errors.at = 'Not a valid date and time';
  } else {
    if (!values.expression.trim()) errors.expression = 'Enter a cron expression or pick a preset';
    if (values.startAt && !boundInstant(values.startAt, values.cronZone)) errors.startAt = 'Not a valid date and time';
    if (values.endAt && !boundInstant(values.endAt, values.cronZone)) errors.endAt = 'Not a valid date and time';
  }
  const payload = parsePayload(values.payload);
  if (!payload.ok) errors.payload = payload.error;
  if (values.action === 'webhook') Object.assign(errors, validateWebhook(values));
  return errors;
}

/** Headers as the API takes them, or an error for the headers field. */
export function parseHeaders(text: string): { ok: true; value: Record<string, string> | undefined } | { ok: false; error: string } {
  const parsed = parseJsonText(text, LIMITS.payloadMaxBytes);
  if (!parsed.ok) return parsed;
  if (!parsed.present) return { ok: true, value: undefined };
  const value = parsed.value;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'Headers are a JSON object: {"Authorization": "Bearer …"}' };
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') return { ok: false, error: `The value of ${name} must be a string` };
  }
  return { ok: true, value: value as Record<string, string> };
}

function validateWebhook(values: TaskFormValues): FormErrors {
  const errors: FormErrors = {};
  const url = values.webhookUrl.trim();
  if (!url) errors.webhookUrl = 'Enter the URL to call';
  else if (!/^https?:\/\/[^\s/]+/i.test(url)) errors.webhookUrl = 'An http:// or https:// URL';
  const headers = parseHeaders(values.webhookHeaders);
  if (!headers.ok) errors.webhookHeaders = headers.error;
  const body = parseJsonText(values.webhookBody, LIMITS.payloadMaxBytes);
  if (!body.ok) errors.webhookBody = body.error;
  return errors;
}

export function actionFromValues(values: TaskFormValues): Action {
  if (values.action !== 'webhook') return { type: 'log' };
  const action: WebhookAction = { type: 'webhook', url: values.webhookUrl.trim(), method: values.webhookMethod };
  const headers = parseHeaders(values.webhookHeaders);
  if (headers.ok && headers.value) action.headers = headers.value;
  const body = parseJsonText(values.webhookBody, LIMITS.payloadMaxBytes);
  if (body.ok && body.present) action.body = body.value;
  if (values.webhookTimeoutMs !== '') action.timeoutMs = values.webhookTimeoutMs;
  if (values.webhookMaxAttempts !== '') action.maxAttempts = values.webhookMaxAttempts;
  return action;
}

export function scheduleFromValues(values: TaskFormValues): Schedule {
  if (values.kind === 'once') {
    const at = onceInstant(values);
    return { type: 'once', at: at ? at.toISOString() : '' };
  }
  return {
    type: 'cron',
    expression: values.expression.trim(),
    timezone: values.cronZone,
    startAt: boundInstant(values.startAt, values.cronZone),
    endAt: boundInstant(values.endAt, values.cronZone),
  };
}

/** The POST body. Call after `validateLocally` found nothing. */
export function toTaskCreate(values: TaskFormValues): TaskCreate {
  const payload = parsePayload(values.payload);
  const body: TaskCreate = { name: values.name.trim(), schedule: scheduleFromValues(values) };
  if (payload.ok && payload.present) body.payload = payload.value;
  if (values.kind === 'cron') {
    body.misfirePolicy = values.misfirePolicy;
    body.overlapPolicy = values.overlapPolicy;
  }
  if (values.action === 'webhook') body.action = actionFromValues(values);
  if (values.kind === 'once' && values.runImmediatelyIfPast) body.runImmediatelyIfPast = true;
  return body;
}

const sameInstant = (a: string | null | undefined, b: string | null | undefined) =>
  (a ? Date.parse(a) : null) === (b ? Date.parse(b) : null);

export function sameSchedule(a: Schedule, b: Schedule): boolean {
  if (a.type === 'once' && b.type === 'once') return sameInstant(a.at, b.at);
  if (a.type === 'cron' && b.type === 'cron') {
    return (
      a.expression.trim() === b.expression.trim() &&
      (a.timezone ?? 'UTC') === (b.timezone ?? 'UTC') &&
      sameInstant(a.startAt, b.startAt) &&
      sameInstant(a.endAt, b.endAt)
    );
  }
  return false;
}

/**
 * The PATCH body: only what changed, plus the version the form was loaded from, so a
 * concurrent edit is reported (409) instead of silently overwritten.
 */
export function toTaskPatch(values: TaskFormValues, task: Task): TaskPatch {
  const patch: TaskPatch = { version: task.version };
  const name = values.name.trim();
  if (name !== task.name) patch.name = name;
  const schedule = scheduleFromValues(values);
  if (!sameSchedule(schedule, task.schedule)) patch.schedule = schedule;
  const payload = parsePayload(values.payload);
  if (payload.ok) {
    const next = payload.present ? payload.value : null;
    if (JSON.stringify(next) !== JSON.stringify(task.payload ?? null)) patch.payload = next;
  }
  if (values.kind === 'cron' && values.misfirePolicy !== task.misfirePolicy) patch.misfirePolicy = values.misfirePolicy;
  if (values.kind === 'cron' && values.overlapPolicy !== (task.overlapPolicy ?? 'allow')) patch.overlapPolicy = values.overlapPolicy;
  const action = actionFromValues(values);
  if (JSON.stringify(action) !== JSON.stringify(normalizeAction(task.action))) patch.action = action;
  if (values.kind === 'once' && values.runImmediatelyIfPast && patch.schedule) patch.runImmediatelyIfPast = true;
  return patch;
}

/** The action as the form would write it, so an untouched action compares equal. */
function normalizeAction(action: Action | undefined): Action {
  if (!action || action.type !== 'webhook') return { type: 'log' };
  const { type, url, method, headers, body, timeoutMs, maxAttempts } = action;
  const normalized: WebhookAction = { type, url, method: method ?? 'POST' };
  if (headers && Object.keys(headers).length > 0) normalized.headers = headers;
  if (body !== undefined) normalized.body = body;
  if (timeoutMs !== undefined) normalized.timeoutMs = timeoutMs;
  if (maxAttempts !== undefined) normalized.maxAttempts = maxAttempts;
  return normalized;
}

/**
 * Maps the server's `details.field` (a dotted request path such as `schedule.expression`;
 * also tolerates JSON-pointer style `/body/schedule/at`) to the input that shows it.
 * Returns null when the message belongs in the general alert.
 */
export function formFieldForPath(path: string | undefined, kind: TaskKind): FormField | null {
  if (!path) return null;
  const normalized = path
    .replace(/^\/?body[./]?/, '')
    .replace(/^\//, '')
    .replace(/\//g, '.')
    .replace(/^schedule\./, '');
  switch (normalized) {
    case 'name':
      return 'name';
    case 'at':
      return 'at';
    case 'expression':
      return 'expression';
    case 'timezone':
      return kind === 'once' ? 'onceZone' : 'cronZone';
    case 'startAt':
      return 'startAt';
    case 'endAt':
      return 'endAt';
    case 'payload':
      return 'payload';
    case 'misfirePolicy':
      return 'misfirePolicy';
    case 'overlapPolicy':
      return 'overlapPolicy';
    case 'runImmediatelyIfPast':
      return 'at';
    case 'action':
    case 'action.type':
      return 'action';
    case 'action.url':
      return 'webhookUrl';
    case 'action.method':
      return 'webhookMethod';
    case 'action.timeoutMs':
      return 'webhookTimeoutMs';
    case 'action.maxAttempts':
      return 'webhookMaxAttempts';
    default:
      if (normalized.startsWith('payload')) return 'payload';
      if (normalized.startsWith('action.headers')) return 'webhookHeaders';
      if (normalized.startsWith('action.body')) return 'webhookBody';
      return null;
  }
}

// ---- cron presets ---------------------------------------------------------------------

export type CronPreset =
  | { id: 'everySeconds'; seconds: number }
  | { id: 'everyMinute' }
  | { id: 'hourly' }
  | { id: 'daily'; time: string }
  | { id: 'weekdays'; time: string }
  | { id: 'custom' };

export type CronPresetId = CronPreset['id'];

export const PRESET_LABELS: Record<CronPresetId, string> = {
  everySeconds: 'Every N seconds',
  everyMinute: 'Every minute',
  hourly: 'Hourly',
  daily: 'Daily at…',
  weekdays: 'Weekdays at…',
  custom: 'Custom',
};

function hm(time: string): [number, number] {
  const [h = '0', m = '0'] = time.split(':');
  return [Math.min(23, Math.max(0, Number(h) || 0)), Math.min(59, Math.max(0, Number(m) || 0))];
}

/** Writes the expression for a preset; `custom` has none. */
export function presetExpression(preset: CronPreset): string | null {
  switch (preset.id) {
    case 'everySeconds': {
      const n = Math.round(preset.seconds);
      if (!Number.isFinite(n) || n < 1 || n > 59) return null;
      return n === 1 ? '* * * * * *' : `*/${n} * * * * *`;
    }
    case 'everyMinute':
      return '* * * * *';
    case 'hourly':
      return '0 * * * *';
    case 'daily': {
      const [h, m] = hm(preset.time);
      return `${m} ${h} * * *`;
    }
    case 'weekdays': {
      const [h, m] = hm(preset.time);
      return `${m} ${h} * * 1-5`;
    }
    case 'custom':
      return null;
  }
}

const p2 = (n: string) => n.padStart(2, '0');

/** Recognises an expression one of the presets writes, so editing a task highlights it. */
export function detectPreset(expression: string): CronPreset {
  const e = expression.trim().replace(/\s+/g, ' ');
  if (e === '* * * * * *') return { id: 'everySeconds', seconds: 1 };
  let m = /^(?:0 )?\*\/(\d{1,2}) \* \* \* \* \*$/.exec(e) ?? /^\*\/(\d{1,2}) \* \* \* \* \*$/.exec(e);
  if (m) return { id: 'everySeconds', seconds: Number(m[1]) };
  if (e === '* * * * *' || e === '0 * * * * *') return { id: 'everyMinute' };
  if (e === '0 * * * *' || e === '@hourly') return { id: 'hourly' };
  m = /^(\d{1,2}) (\d{1,2}) \* \* \*$/.exec(e);
  if (m) return { id: 'daily', time: `${p2(m[2]!)}:${p2(m[1]!)}` };
  if (e === '@daily') return { id: 'daily', time: '00:00' };
  m = /^(\d{1,2}) (\d{1,2}) \* \* (?:1-5|MON-FRI)$/i.exec(e);
  if (m) return { id: 'weekdays', time: `${p2(m[2]!)}:${p2(m[1]!)}` };
  return { id: 'custom' };
}

/** The preset to switch to when the user clicks its chip, keeping parameters already chosen. */
export function presetFor(id: CronPresetId, current: CronPreset): CronPreset {
  const time = current.id === 'daily' || current.id === 'weekdays' ? current.time : '09:00';
  switch (id) {
    case 'everySeconds':
      return { id, seconds: current.id === 'everySeconds' ? current.seconds : 10 };
    case 'daily':
    case 'weekdays':
      return { id, time };
    default:
      return { id } as CronPreset;
  }
}
