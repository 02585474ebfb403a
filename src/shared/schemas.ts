// The API contract, declared once. The server validates requests and builds its
// OpenAPI document from these schemas; the web UI imports the static types.
// TypeBox schemas are plain JSON Schema, so Fastify's own validator uses them directly.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const LIMITS = {
  nameMaxLength: 200,
  payloadMaxBytes: 64 * 1024,
  bodyMaxBytes: 256 * 1024,
  expressionMaxLength: 200,
  timezoneMaxLength: 64,
  previewMaxCount: 50,
  pageMaxLimit: 500,
  bulkMaxTasks: 1000,
  /** POST /api/tasks/batch: 1,000 tasks of up to ~4 KiB each */
  batchBodyMaxBytes: 4 * 1024 * 1024,
  keyMaxLength: 200,
  /** errors listed in one refused batch */
  batchMaxErrors: 100,
  webhookUrlMaxLength: 2048,
  webhookHeadersMax: 20,
  webhookHeaderNameMaxLength: 100,
  webhookHeaderValueMaxLength: 1000,
  /** JSON nesting deeper than this is refused anywhere in a request */
  jsonMaxDepth: 64,
} as const;

const Instant = (description: string) =>
  Type.String({ format: 'date-time', description, maxLength: 40 });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const TaskState = Type.Union(
  [Type.Literal('active'), Type.Literal('paused'), Type.Literal('completed')],
  { description: 'active: will fire; paused: will not fire until resumed; completed: a one-time task that ran, or a cron past its end' },
);
export type TaskState = Static<typeof TaskState>;

export const MisfirePolicy = Type.Union([Type.Literal('fire_once'), Type.Literal('skip')], {
  description:
    'What a recurring task does with occurrences missed by more than 10 s (e.g. the cluster was down): fire_once fires the latest missed occurrence once, late, and records the others as skipped; skip records all of them as skipped.',
});
export type MisfirePolicy = Static<typeof MisfirePolicy>;

export const OnceSchedule = Type.Object(
  {
    type: Type.Literal('once'),
    at: Instant('ISO 8601 instant with offset, e.g. 2026-12-01T09:00:00+01:00'),
  },
  { additionalProperties: false },
);

export const CronSchedule = Type.Object(
  {
    type: Type.Literal('cron'),
    expression: Type.String({
      minLength: 1,
      maxLength: LIMITS.expressionMaxLength,
      description: '5 fields (minute hour day month weekday), 6 fields (seconds first), or @hourly/@daily/@weekly/@monthly/@yearly',
    }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.timezoneMaxLength, description: 'IANA time zone, default UTC' })),
    startAt: Type.Optional(Nullable(Instant('no occurrence before this instant'))),
    endAt: Type.Optional(Nullable(Instant('no occurrence after this instant'))),
  },
  { additionalProperties: false },
);

// A discriminated union: the validator picks the branch by `type`, so an error names
// the field that is wrong in that branch instead of listing every branch's complaints.
export const Schedule = Type.Unsafe<Static<typeof OnceSchedule> | Static<typeof CronSchedule>>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [OnceSchedule, CronSchedule],
});
export type Schedule = Static<typeof Schedule>;
export type OnceSchedule = Static<typeof OnceSchedule>;
export type CronSchedule = Static<typeof CronSchedule>;

export const LogAction = Type.Object({ type: Type.Literal('log') }, { additionalProperties: false });

/** RFC 9110 token: what an HTTP header name may contain. */
const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/** Visible ASCII, space and tab: header values that every server and proxy reads alike. */
const HEADER_VALUE = '^[\\t\\x20-\\x7e]*$';

export const WebhookMethod = Type.Union(
  [Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('GET'), Type.Literal('DELETE')],
  { description: 'default POST' },
);
export type WebhookMethod = Static<typeof WebhookMethod>;

export const WebhookAction = Type.Object(
  {
    type: Type.Literal('webhook'),
    url: Type.String({ minLength: 1, maxLength: LIMITS.webhookUrlMaxLength, description: 'http:// or https:// URL' }),
    method: Type.Optional(WebhookMethod),
    headers: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        type: 'object',
        description: `extra request headers: at most ${LIMITS.webhookHeadersMax}, names up to ${LIMITS.webhookHeaderNameMaxLength} characters, values up to ${LIMITS.webhookHeaderValueMaxLength} visible ASCII characters; Host, Content-Length, hop-by-hop headers, Idempotency-Key and Sundial-* are set by Sundial`,
        maxProperties: LIMITS.webhookHeadersMax,
        propertyNames: { minLength: 1, maxLength: LIMITS.webhookHeaderNameMaxLength, pattern: HEADER_NAME },
        additionalProperties: { type: 'string', maxLength: LIMITS.webhookHeaderValueMaxLength, pattern: HEADER_VALUE },
      }),
    ),
    body: Type.Optional(
      Type.Any({
        description:
          'any JSON value, sent as JSON; a string with your own Content-Type header is sent as is. Default: {taskId, taskName, scheduledFor, runId, attempt, trigger, payload}',
      }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, description: 'per attempt, default 10000' })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: 'attempts in all, default 3; retried on network errors, timeouts, 408, 429 and 5xx' })),
  },
  { additionalProperties: false },
);
export type WebhookAction = Static<typeof WebhookAction>;

// Discriminated on `type`, like Schedule.
export const Action = Type.Unsafe<Static<typeof LogAction> | WebhookAction>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [LogAction, WebhookAction],
});
export type Action = Static<typeof Action>;

export const OverlapPolicy = Type.Union([Type.Literal('allow'), Type.Literal('skip')], {
  description:
    'allow (default): an occurrence fires even while the previous run of the task is still in progress (a webhook being retried); skip: it is recorded as skipped with the reason "overlap: previous run still in progress"',
});
export type OverlapPolicy = Static<typeof OverlapPolicy>;

// Delivery (docs/webhooks.md): lateness limit, redrive, per-origin targets.
export const MaxLatenessMs = Nullable(
  Type.Integer({
    minimum: 0,
    maximum: 31_536_000_000,
    description:
      'an occurrence whose first attempt would start more than this many ms after its time is recorded skipped ("expired: …") instead of firing; null: no limit. Not applied to manual triggers or retries',
  }),
);

export const Delivery = Type.Object({
  n: Type.Integer({ description: 'attempt number, from 1' }),
  startedAt: Type.String(),
  durationMs: Type.Integer(),
  nodeId: Type.String(),
  url: Type.Optional(Type.String({ description: 'the final URL, when redirects were followed' })),
  statusCode: Type.Optional(Type.Integer()),
  error: Type.Optional(Type.String({ description: 'network error, timeout or refusal' })),
  response: Type.Optional(Type.String({ description: 'the first 1 KiB of the response body' })),
  truncated: Type.Optional(Type.Boolean()),
  deferred: Type.Optional(
    Type.Boolean({ description: "true: no request was sent; the origin's circuit was open and the run waited (not counted as an attempt)" }),
  ),
});
export type Delivery = Static<typeof Delivery>;

export const KEY_PATTERN = '^[A-Za-z0-9._~:/@-]+$';
export const TaskKey = Type.String({
  minLength: 1,
  maxLength: LIMITS.keyMaxLength,
  pattern: KEY_PATTERN,
  description: 'your own name for the task, unique among tasks not deleted: 1–200 of A–Z a–z 0–9 . _ ~ : / @ -, e.g. "user-42/reminder-7"',
});
export const KeyPrefix = Type.String({ minLength: 1, maxLength: LIMITS.keyMaxLength, pattern: KEY_PATTERN, description: 'tasks whose key starts with this, e.g. "user-42/"' });

export const TaskCreate = Type.Object(
  {
    key: Type.Optional(TaskKey),
    name: Type.String({ minLength: 1, maxLength: LIMITS.nameMaxLength }),
    schedule: Schedule,
    payload: Type.Optional(Type.Any({ description: 'any JSON value, at most 64 KiB serialized' })),
    action: Type.Optional(Action),
    misfirePolicy: Type.Optional(MisfirePolicy),
    overlapPolicy: Type.Optional(OverlapPolicy),
    maxLatenessMs: Type.Optional(MaxLatenessMs),
    runImmediatelyIfPast: Type.Optional(
      Type.Boolean({ description: 'a one-time task whose time has passed is rejected unless this is true, then it fires at once' }),
    ),
  },
  { additionalProperties: false },
);
export type TaskCreate = Static<typeof TaskCreate>;

export const TaskPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.nameMaxLength })),
    schedule: Type.Optional(Schedule),
    payload: Type.Optional(Type.Any()),
    action: Type.Optional(Action),
    misfirePolicy: Type.Optional(MisfirePolicy),
    overlapPolicy: Type.Optional(OverlapPolicy),
    maxLatenessMs: Type.Optional(MaxLatenessMs),
    runImmediatelyIfPast: Type.Optional(Type.Boolean()),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'optimistic concurrency: the version you read; 409 if it changed' })),
  },
  { additionalProperties: false },
);
export type TaskPatch = Static<typeof TaskPatch>;

export const RunStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('skipped'),
]);
export type RunStatus = Static<typeof RunStatus>;

export const LastRun = Type.Object({
  id: Type.String(),
  status: RunStatus,
  scheduledFor: Type.String(),
  startedAt: Nullable(Type.String()),
});

export const Task = Type.Object({
  id: Type.String({ format: 'uuid' }),
  key: Nullable(Type.String()),
  name: Type.String(),
  kind: Type.Union([Type.Literal('once'), Type.Literal('cron')]),
  schedule: Schedule,
  description: Type.String({ description: 'the schedule in plain English, e.g. "Every 5 minutes (Europe/Berlin)"' }),
  payload: Type.Any(),
  action: Action,
  misfirePolicy: MisfirePolicy,
  overlapPolicy: OverlapPolicy,
  maxLatenessMs: Type.Optional(Nullable(Type.Integer({ description: 'null: no lateness limit (always present in answers)' }))),
  state: TaskState,
  nextRunAt: Nullable(Type.String({ description: 'next occurrence not yet claimed; null when paused or completed' })),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  lastRun: Nullable(LastRun),
  upcoming: Type.Optional(Type.Array(Type.String(), { description: 'next occurrences (detail view only)' })),
});
export type Task = Static<typeof Task>;

export const Run = Type.Object({
  id: Type.String(),
  taskId: Type.String(),
  taskKey: Nullable(Type.String({ description: "the key of the run's task (kept after the task is deleted)" })),
  taskName: Type.String(),
  scheduledFor: Type.String(),
  startedAt: Nullable(Type.String({ description: 'the exact time it was executed, millisecond precision' })),
  finishedAt: Nullable(Type.String()),
  lagMs: Nullable(Type.Integer({ description: 'startedAt - scheduledFor' })),
  status: RunStatus,
  attempt: Type.Integer(),
  nodeId: Nullable(Type.String()),
  trigger: Type.Union([Type.Literal('schedule'), Type.Literal('manual')]),
  late: Type.Boolean({ description: 'fired more than 10 s after its time (misfire or downtime)' }),
  reason: Nullable(Type.String()),
 deliveries: Nullable(Type.Array(Delivery, { description: 'webhook runs: every HTTP attempt, oldest first; null for other actions' })),
  retryOf: Type.Optional(Nullable(Type.String({ description: 'the failed run this run redrives (POST /api/runs/{id}/retry); null otherwise (always present in answers)' }))),
});
export type Run = Static<typeof Run>;

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });
export const TaskPage = Type.Object({
  items: Type.Array(Task),
  nextCursor: Nullable(Type.String()),
  total: Type.Optional(Type.Integer({ description: 'every match, not only this page (with ?count=true)' })),
});
export const RunPage = Page(Run);
export type TaskPage = Static<typeof TaskPage>;
export type RunPage = Static<typeof RunPage>;

export const TaskListQuery = Type.Object(
  {
    state: Type.Optional(TaskState),
    kind: Type.Optional(Type.Union([Type.Literal('once'), Type.Literal('cron')])),
    q: Type.Optional(Type.String({ maxLength: LIMITS.nameMaxLength, description: 'case-insensitive substring of the name' })),
    keyPrefix: Type.Optional(KeyPrefix),
    count: Type.Optional(Type.Boolean({ description: 'also return the total number of matches' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.pageMaxLimit, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type TaskListQuery = Static<typeof TaskListQuery>;

export const RunListQuery = Type.Object(
  {
    taskId: Type.Optional(Type.String({ format: 'uuid' })),
    nodeId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'runs owned or executed by this node' })),
    status: Type.Optional(RunStatus),
    origin: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'webhook origin, e.g. https://hooks.example:8443: runs of tasks whose URL is on it' })),
    keyPrefix: Type.Optional(KeyPrefix),
    from: Type.Optional(Instant('scheduledFor >= from')),
    to: Type.Optional(Instant('scheduledFor < to')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.pageMaxLimit, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type RunListQuery = Static<typeof RunListQuery>;

export const TargetItem = Type.Object({
  origin: Type.String({ description: 'scheme://host[:port]' }),
  inFlight: Type.Integer({ description: 'attempts in flight now, all live nodes' }),
  queued: Type.Integer({ description: 'attempts waiting for a slot now, all live nodes' }),
  attempts: Type.Integer({ description: 'attempts finished in the window' }),
  failures: Type.Integer({ description: 'of those, not 2xx' }),
  p50Ms: Nullable(Type.Number({ description: 'attempt duration' })),
  p99Ms: Nullable(Type.Number()),
  circuit: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half-open')], { description: 'the worst state among the nodes' }),
  circuitSince: Nullable(Type.String()),
  nodes: Type.Integer({ description: 'live nodes that delivered to this origin in the window' }),
});
export const Targets = Type.Object({
  generatedAt: Type.String(),
  windowSeconds: Type.Integer(),
  items: Type.Array(TargetItem),
});
export type Targets = Static<typeof Targets>;

export const RetryManyBody = Type.Object(
  {
    taskId: Type.Optional(Type.String({ format: 'uuid' })),
    origin: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
export type RetryManyBody = Static<typeof RetryManyBody>;
export const RetryManyResult = Type.Object({ retried: Type.Integer(), runs: Type.Array(Type.String()) });

export const PreviewQuery = Type.Object(
  {
    expression: Type.String({ minLength: 1, maxLength: LIMITS.expressionMaxLength }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.timezoneMaxLength })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.previewMaxCount, default: 5 })),
    startAt: Type.Optional(Instant('preview from this instant (default now)')),
    endAt: Type.Optional(Instant('no occurrence after this instant')),
  },
  { additionalProperties: false },
);
export type PreviewQuery = Static<typeof PreviewQuery>;

export const PreviewOccurrence = Type.Object({
  at: Type.String(),
  local: Type.String({ description: 'wall-clock time in the schedule time zone, e.g. 2027-03-28T03:00:00' }),
  dst: Nullable(
    Type.Union([Type.Literal('gap'), Type.Literal('overlap')], {
      description: 'gap: the matching local time did not exist and this fires at the first instant after the jump; overlap: the local time occurs twice and this is its first occurrence',
    }),
  ),
});
export const Preview = Type.Object({
  description: Type.String(),
  timezone: Type.String(),
  occurrences: Type.Array(Type.String()),
  details: Type.Array(PreviewOccurrence),
});
export type Preview = Static<typeof Preview>;

export const ClusterNode = Type.Object({
  id: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  version: Type.String(),
  startedAt: Type.String(),
  heartbeatAt: Type.String(),
  alive: Type.Boolean(),
  firedLastMinute: Type.Integer(),
  self: Type.Boolean({ description: 'the node that answered this request' }),
  clockOffsetMs: Type.Union([Type.Number(), Type.Null()], {
    description: "PostgreSQL's clock minus this node's, measured at its heartbeats; the node fires by its clock corrected by this (null: not measured yet)",
  }),
  clockUncertaintyMs: Type.Union([Type.Number(), Type.Null()], {
    description: 'half the round trip the offset was measured on: the most the correction can be off by, so the most a run can start early',
  }),
  held: Type.Integer({ description: 'occurrences the node holds claimed ahead, as of its last heartbeat' }),
});
export const Cluster = Type.Object({ nodes: Type.Array(ClusterNode) });
export type ClusterNode = Static<typeof ClusterNode>;
export type Cluster = Static<typeof Cluster>;

export const Stats = Type.Object({
  tasks: Type.Object({ active: Type.Integer(), paused: Type.Integer(), completed: Type.Integer() }),
  runs: Type.Object({ total: Type.Integer(), lastMinute: Type.Integer(), failed: Type.Integer(), skipped: Type.Integer(), pending: Type.Integer() }),
  lag: Type.Array(
    Type.Object({ minute: Type.String(), runs: Type.Integer(), p50Ms: Nullable(Type.Number()), p99Ms: Nullable(Type.Number()) }),
    { description: 'per minute over the last 30 minutes, oldest first' },
  ),
});
export type Stats = Static<typeof Stats>;

export const TaskDeleteQuery = Type.Object(
  {
    keyPrefix: KeyPrefix,
    purge: Type.Optional(Type.Boolean({ description: 'also erase payloads (task payload, webhook body and headers, recorded responses)' })),
  },
  { additionalProperties: false },
);
export type TaskDeleteQuery = Static<typeof TaskDeleteQuery>;
export const PurgeQuery = Type.Object(
  { purge: Type.Optional(Type.Boolean({ description: 'also erase payloads (task payload, webhook body and headers, recorded responses)' })) },
  { additionalProperties: false },
);
export const Cancelled = Type.Object({ cancelled: Type.Integer({ description: 'tasks deleted' }) });

export const PutOutcome = Type.Union([Type.Literal('created'), Type.Literal('replaced'), Type.Literal('unchanged')], {
  description: 'created: new task; replaced: the task holding the key was changed; unchanged: it already had this definition',
});
export const BatchCreate = Type.Object(
  { tasks: Type.Array(TaskCreate, { minItems: 1, maxItems: LIMITS.bulkMaxTasks }) },
  { additionalProperties: false },
);
export type BatchCreate = Static<typeof BatchCreate>;
export const BatchItem = Type.Intersect([Task, Type.Object({ outcome: PutOutcome })]);
export const BatchItemMinimal = Type.Object({ id: Type.String({ format: 'uuid' }), key: Nullable(Type.String()), outcome: PutOutcome });
export const BatchResult = Type.Object({
  items: Type.Array(Type.Union([BatchItem, BatchItemMinimal]), { description: 'in input order; only id, key and outcome with Prefer: return=minimal' }),
});
export type BatchResult = Static<typeof BatchResult>;

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Any()),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;

/**
 * Server-Sent Events on GET /api/events. Events are change hints, not a replica of the
 * data: a live view refetches what it shows (throttled) when a hint arrives. They reach
 * every node through one PostgreSQL NOTIFY per transaction, so a view on node A sees
 * runs fired by node B.
 *   event: runs   data: {"nodeId": "...", "count": 12}      runs were claimed, fired or recorded
 *   event: tasks  data: {"taskId": "...", "change": "..."}  a task was created/updated/deleted/paused/resumed
 *   event: ping   data: {}                                  keep-alive every 15 s
 */
/** What can happen to a task; the NOTIFY notices, the event stream and the UI share this list. */
export const TASK_CHANGES = ['created', 'updated', 'deleted', 'paused', 'resumed', 'triggered'] as const;
export type TaskChangeKind = (typeof TASK_CHANGES)[number];

export type ServerEvent =
  | { type: 'runs'; nodeId: string; count: number }
  | { type: 'tasks'; taskId: string; change: TaskChangeKind };

// ---- Upcoming load (Overview's "what is coming") -----------------------------------------

export const UPCOMING_LIMITS = {
  maxHours: 24,
  /** recurring schedules projected per request, largest groups first */
  maxScheduleGroups: 2000,
  /** occurrences computed per request across all groups (each counts once, whatever its size) */
  maxOccurrences: 200_000,
} as const;

export const UpcomingQuery = Type.Object(
  {
    hours: Type.Optional(Type.Integer({ minimum: 1, maximum: UPCOMING_LIMITS.maxHours, default: 6, description: 'how far ahead to look' })),
  },
  { additionalProperties: false },
);
export type UpcomingQuery = Static<typeof UpcomingQuery>;

export const UpcomingBucket = Type.Object({
  at: Type.String({ description: 'start of the minute' }),
  once: Type.Integer({ description: 'one-time occurrences due in this minute' }),
  recurring: Type.Integer({ description: 'recurring occurrences due in this minute, projected from the schedules' }),
});
export const Upcoming = Type.Object({
  from: Type.String({ description: 'start of the first bucket (the current minute); occurrences already past are not counted' }),
  bucketMinutes: Type.Literal(1),
  buckets: Type.Array(UpcomingBucket, { description: 'one per minute, oldest first, zeros included' }),
  scheduleGroups: Type.Integer({ description: 'distinct recurring schedules projected (tasks sharing expression, zone and bounds count once)' }),
  unprojectedTasks: Type.Integer({ description: 'active recurring tasks left out of the projection by its bounds; 0 when the chart is complete' }),
});
export type UpcomingBucket = Static<typeof UpcomingBucket>;
export type Upcoming = Static<typeof Upcoming>;
