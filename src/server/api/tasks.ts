import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  BatchCreate, BatchResult, Cancelled, ErrorBody, LIMITS, PurgeQuery, Run, Task, TaskCreate, TaskDeleteQuery, TaskKey,
  TaskListQuery, TaskPage, TaskPatch, type TaskDeleteQuery as TaskDeleteQueryT,
} from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import {
  PutRejected, type ClaimNew, taskCount, taskDelete, taskGet, taskGetByKey, taskInsert, taskList,
  tasksDeleteByKeyPrefix, tasksPut, taskUpdate, TaskInsertQueue, withKeyRaceRetry, type TaskChange, type TaskInsert, type TaskRow, type TaskWithLastRun,
} from '../store/tasks.js';
import { runInsertManual, type ClaimedRun } from '../store/runs.js';
import { scheduleCron } from '../time/schedule.js';
import type { ApiDeps } from './server.js';
import { assertTaskId, decodeCursor, encodeCursor, nextOccurrence, runOut, taskOut } from './serialize.js';
import { replacePlan, requestHash, resumeChange, taskChangeFromPatch, taskInsertFromCreate } from './task-input.js';
import { compileBodyValidator } from './validation.js';
import { BatchDatabaseError } from './batch-thread.js';
import { BulkPace } from './bulk-pace.js';

const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
const KeyParams = Type.Object({ '*': TaskKey });
const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/** `Prefer: return=minimal` (RFC 7240): answer with ids and outcomes only. */
const wantsMinimal = (prefer: string | string[] | undefined) =>
  [prefer ?? []].flat().some((p) => /(^|[,;\s])return\s*=\s*"?minimal"?/i.test(p));

/**
 * One request's claim of the new tasks it creates that fall due within the horizon
 * (ApiDeps.createClaim): `claim` runs inside the transaction, `commit` holds what it
 * claimed once the transaction committed, `fail` reports a transaction that did not
 * (its COMMIT may still have landed).
 */
function createClaimScope(deps: ApiDeps) {
  const c = deps.createClaim;
  const runs: ClaimedRun[] = [];
  const claim: ClaimNew | undefined = c
    ? async (tx, ids) => {
        const claimed = await c.claimCreated(tx, ids);
        runs.push(...claimed);
        return new Set(claimed.map((r) => r.taskId));
      }
    : undefined;
  return {
    /** a transaction is worth it only for tasks due within the horizon */
    claimFor: (next: Date | null | undefined) => (c && next && next.getTime() <= deps.clock.now().getTime() + c.createHorizonMs ? claim : undefined),
    before: () => new Date(deps.clock.now().getTime() + (c?.createHorizonMs ?? 0)),
    claim,
    async run<T>(work: () => Promise<T>): Promise<T> {
      let out: T;
      try {
        out = await work();
      } catch (err) {
        if (runs.length) c!.createFailed();
        throw err;
      }
      if (runs.length) c!.holdCreated(runs.splice(0));
      return out;
    },
  };
}

function keyNotFound(key: string): ApiError {
  return new ApiError('TASK_NOT_FOUND', `no task with key ${JSON.stringify(key)}`, { field: 'key' });
}

/** Batch transactions at once while firing keeps time (a client's few requests in flight). */
export const BATCH_WRITES = 4;
/** Threads the batches run in, BATCH_WRITES / BATCH_THREADS transactions each (api/batch-thread.ts). */
export const BATCH_THREADS = 2;
/** Runs a batch claimed that are handed to the executor in one turn of the event loop. */
const HOLD_SLICE = 100;

/**
 * At most `max()` at a time (read at each start and end); the rest wait their turn, in
 * order. Batch writes go through one whose limit drops to one while the node's timer
 * fires late: four batch transactions at once kept four PostgreSQL backends runnable
 * beside the node and its receivers on two cores, and a steady stream of webhooks due
 * meanwhile waited for a core (see docs/api.md, "Firing beside an import"). With the
 * batches in their own thread at a lower priority the turns still count: without them
 * the stream's p99 beside an import was 44 ms against 23 ms (one pair each).
 */
export class Turns {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: () => number) {}
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.max()) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await f();
    } finally {
      this.active--;
      while (this.waiting.length && this.active < Math.max(1, this.max())) {
        this.active++;
        this.waiting.shift()!();
      }
    }
  }
}

export function taskRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql, clock } = deps;
  const soon = (d: Date | null | undefined) => !!d && d.getTime() <= clock.now().getTime() + deps.lookaheadMs;
  const inputOpts = { allow: deps.webhookAllow };
  /** creates not due within the lookahead, coalesced into shared statements */
  const laterInserts = new TaskInsertQueue(sql);
  // batch transactions: a few at a time, one while the node fires late (see Turns)
  const batchWrites = new Turns(() => (deps.firingLate?.() ? 1 : BATCH_WRITES));
  // and paced by their bytes while the timer wakes late (see BulkPace)
  const bulkPace = deps.timerLateness && new BulkPace(() => clock.now().getTime(), deps.timerLateness);
  /** read-only tokens do not see webhook header values */
  const redact = (req: FastifyRequest) => ({ redact: req.principal?.scope === 'read' });

  app.post<{ Body: TaskCreate; Headers: { 'idempotency-key'?: string } }>(
    '/api/tasks',
    {
      schema: {
        summary: 'Register a one-time or recurring task',
        tags: ['tasks'],
        body: TaskCreate,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
        response: { 200: Task, 201: Task, 422: ErrorBody, ...errors },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'] ?? null;
      const row = taskInsertFromCreate(req.body, clock.now(), key, inputOpts);
      const claims = createClaimScope(deps);
      const claim = claims.claimFor(row.nextRunAt);
      // due soon (a wake-up or a claim): its own transaction; later: coalesced with the
      // creates arriving beside it
      const wake = soon(row.nextRunAt);
      const { task, created, keyTaken } =
        wake || claim ? await claims.run(() => taskInsert(sql, row, wake, claim)) : await laterInserts.insert(row);
      if (keyTaken) {
        throw new ApiError('TASK_KEY_IN_USE', `key ${JSON.stringify(row.key)} is held by task ${keyTaken.id}; PUT /api/tasks/by-key/${row.key} replaces it`, {
          field: 'key',
          taskId: keyTaken.id,
        });
      }
      if (!created && task.idempotencyHash !== requestHash(req.body)) {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different request', {
          field: 'header.idempotency-key',
          taskId: task.id,
        });
      }
      if (!created) reply.header('idempotent-replayed', 'true');
      // a new task has no runs: the row is the whole answer
      const full = created ? task : await taskGet(sql, task.id);
      if (created) deps.hub.publish({ type: 'tasks', taskId: task.id, change: 'created' });
      return reply.code(created ? 201 : 200).header('location', `/api/tasks/${task.id}`).send(taskOut(full ?? task));
    },
  );

  app.register(async (batch) => {
    // the body reaches the batch thread as bytes: parsing it here would put the import's
    // objects on the event loop that fires (see api/batch-thread.ts)
    batch.removeAllContentTypeParsers();
    batch.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: LIMITS.batchBodyMaxBytes }, (_req, body, done) => done(null, body));
    batch.post<{ Body: Buffer | undefined; Headers: { 'idempotency-key'?: string; prefer?: string } }>(
      '/api/tasks/batch',
      {
        bodyLimit: LIMITS.batchBodyMaxBytes,
        // the body is checked in the batch thread (envelope, then every item, so each invalid one is listed)
        validatorCompiler: ({ httpPart, schema }) => (httpPart === 'body' ? () => true : compileBodyValidator(schema as object)),
        schema: {
          summary: `Create or replace up to ${LIMITS.bulkMaxTasks} tasks at once, all or nothing`,
          description: `One transaction. Items with a key are upserts (as PUT /api/tasks/by-key/{key}). If any item is invalid the answer is 400 BATCH_INVALID listing up to ${LIMITS.batchMaxErrors} of them in details.errors (field like "tasks[17].schedule.at") and nothing is stored. Body limit ${LIMITS.batchBodyMaxBytes / 1024 / 1024} MiB. Send "Prefer: return=minimal" to get only ids and outcomes. An Idempotency-Key makes a replay return the first answer. While this node's timer fires late, batches wait their turn, paced by their bytes (never below 512 KiB a second), so that what is due keeps its time; one that would wait more than 30 s is refused with 429 and Retry-After.`,
          tags: ['tasks'],
          body: BatchCreate,
          headers: Type.Object({
            'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            prefer: Type.Optional(Type.String({ maxLength: 200, description: 'return=minimal: only id, key and outcome per item' })),
          }),
          response: { 200: BatchResult, 201: BatchResult, 413: ErrorBody, 422: ErrorBody, 429: ErrorBody, ...errors },
        },
      },
      async (req, reply) => {
        const charge = req.chargeRateLimit;
        const claimer = deps.createClaim;
        await bulkPace?.admit(req.body?.length ?? 0);
        const answer = await batchWrites.run(async () => {
          try {
            return await deps.batches.run(
              {
                // no body at all: the thread answers that it is empty
                body: req.body ?? new Uint8Array(),
                now: clock.now().getTime(),
                minimal: wantsMinimal(req.headers.prefer),
                idempotencyKey: req.headers['idempotency-key'] ?? null,
                claim: claimer?.createClaimTerms() ?? null,
              },
              charge && ((tasks) => charge(tasks - 1)),
            );
          } catch (err) {
            // its COMMIT may have landed as the connection broke (or the thread died): the
            // claimer adopts what it claimed
            if (err instanceof BatchDatabaseError && err.claimedBeforeFailure) claimer?.createFailed();
            throw err;
          }
        });
        // held a hundred at a time: an import's early batches each bring ~1,000 claimed runs,
        // and holding them all in one turn held up the timer (alternated, 2 pairs each: the
        // stream's p99 beside an import 3.0 and 3.7x the run without it, in slices 2.3 and 2.4x)
        for (let i = 0; i < answer.claimed.length; i += HOLD_SLICE) {
          if (i) await nextTurn();
          claimer?.holdCreated(answer.claimed.slice(i, i + HOLD_SLICE));
        }
        for (const e of answer.scheduleErrors) req.log.error({ taskId: e.taskId, err: e.message }, 'schedule could not be evaluated; task stopped');
        if (answer.replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(answer.status).type('application/json').serializer((x) => x as string).send(answer.body);
      },
    );
  });

  const putByKey = async (key: string, body: TaskCreate) => {
    if (body.key !== undefined && body.key !== key) {
      throw new ApiError('VALIDATION_FAILED', `key in the body (${JSON.stringify(body.key)}) differs from the key in the path`, { field: 'key' });
    }
    const now = clock.now();
    const row = taskInsertFromCreate({ ...body, key }, now, null, { ...inputOpts, allowPast: true });
    const explicitPast = new WeakSet<TaskInsert>();
    if (body.runImmediatelyIfPast) explicitPast.add(row);
    const result = await withKeyRaceRetry(() => {
      // a scope per attempt: nothing a rolled-back attempt claimed is held
      const claims = createClaimScope(deps);
      const claim = claims.claimFor(row.nextRunAt);
      return claims.run(() => sql.begin(async (tx) => {
        try {
          const c = claim && { before: claims.before(), claim };
          return (await tasksPut(tx, [row], replacePlan(now, (w) => explicitPast.has(w)), new Date(now.getTime() + deps.lookaheadMs), c)).results[0]!;
        } catch (err) {
          if (err instanceof PutRejected) throw err.items[0]!.error;
          throw err;
        }
      }));
    });
    if (result.outcome !== 'unchanged') deps.hub.publish({ type: 'tasks', taskId: result.id, change: result.outcome === 'created' ? 'created' : 'updated' });
    return result;
  };

  app.put<{ Params: { '*': string }; Body: TaskCreate }>(
    '/api/tasks/by-key/*',
    {
      schema: {
        summary: 'Create (201) or replace (200) the task with this key',
        description:
          'The key is the rest of the path, slashes included. Replacing with an identical definition changes nothing; a new schedule restarts the task from it (a completed one-time task with a future "at" fires again) and cancels what the old one had claimed.',
        tags: ['tasks'],
        params: KeyParams,
        body: TaskCreate,
        response: { 200: Task, 201: Task, ...errors },
      },
    },
    async (req, reply) => {
      const key = req.params['*'];
      const result = await putByKey(key, req.body);
      const task = await taskGet(sql, result.id);
      return reply
        .code(result.outcome === 'created' ? 201 : 200)
        .header('location', `/api/tasks/${result.id}`)
        .header('sundial-outcome', result.outcome)
        .send(taskOut(task!, undefined, redact(req)));
    },
  );

  const byKey = async (key: string): Promise<TaskRow> => {
    const t = await taskGetByKey(sql, key);
    if (!t) throw keyNotFound(key);
    return t;
  };

  app.get<{ Params: { '*': string } }>(
    '/api/tasks/by-key/*',
    { schema: { summary: 'The task with this key', tags: ['tasks'], params: KeyParams, response: { 200: Task, ...errors } } },
    async (req) => detail(await byKey(req.params['*']), req),
  );

  app.patch<{ Params: { '*': string }; Body: TaskPatch; Headers: { 'if-match'?: string } }>(
    '/api/tasks/by-key/*',
    { schema: { summary: 'Edit the task with this key (as PATCH /api/tasks/{id})', tags: ['tasks'], params: KeyParams, body: TaskPatch, response: { 200: Task, ...errors } } },
    async (req, reply) => patch((await byKey(req.params['*'])).id, req.body, req.headers['if-match'], reply),
  );

  app.delete<{ Params: { '*': string }; Querystring: { purge?: boolean } }>(
    '/api/tasks/by-key/*',
    { schema: { summary: 'Delete the task with this key; the key is free again', tags: ['tasks'], params: KeyParams, querystring: PurgeQuery, response: { 404: ErrorBody } } },
    async (req, reply) => {
      const t = await byKey(req.params['*']);
      if (!(await taskDelete(sql, t.id, req.query.purge))) throw keyNotFound(req.params['*']);
      return reply.code(204).send();
    },
  );

  app.delete<{ Querystring: TaskDeleteQueryT }>(
    '/api/tasks',
    {
      schema: {
        summary: 'Delete every task whose key starts with keyPrefix',
        description: 'In bounded transactions; occurrences already claimed are cancelled too. keyPrefix is required and may not be empty.',
        tags: ['tasks'],
        querystring: TaskDeleteQuery,
        response: { 200: Cancelled, 400: ErrorBody },
      },
    },
    async (req) => ({ cancelled: await tasksDeleteByKeyPrefix(sql, req.query.keyPrefix, { purge: req.query.purge }) }),
  );

  app.get<{ Querystring: TaskListQuery }>(
    '/api/tasks',
    { schema: { summary: 'List tasks, newest first', tags: ['tasks'], querystring: TaskListQuery, response: { 200: TaskPage, 400: ErrorBody } } },
    async (req) => {
      const limit = req.query.limit ?? 50;
      const after = decodeCursor(req.query.cursor);
      const filter = { state: req.query.state, kind: req.query.kind, q: req.query.q, keyPrefix: req.query.keyPrefix };
      const [rows, total] = await Promise.all([
        taskList(sql, { ...filter, limit: limit + 1, after }),
        req.query.count ? taskCount(sql, filter) : undefined,
      ]);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((t) => taskOut(t, undefined, redact(req))),
        nextCursor: rows.length > limit && last ? encodeCursor(last.cursorUs, last.id) : null,
        ...(total !== undefined ? { total } : {}),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/tasks/:id',
    { schema: { summary: 'A task, with its next occurrences', tags: ['tasks'], params: IdParams, response: { 200: Task, ...errors } } },
    async (req) => {
      const t = await taskGet(sql, assertTaskId(req.params.id));
      if (!t) throw new ApiError('TASK_NOT_FOUND', `no task with id ${req.params.id}`, { field: 'id' });
      return detail(t, req);
    },
  );

  function detail(t: TaskRow | TaskWithLastRun, req: FastifyRequest) {
      let upcoming: Date[] = [];
      const next = nextOccurrence(t);
      if (next && t.kind === 'cron') {
        const cron = scheduleCron(t);
        upcoming = [next, ...cron.next(next, 4)];
      } else if (next) upcoming = [next];
      return taskOut(t, upcoming, redact(req));
  }

  const update = async (
    id: string,
    version: number | undefined,
    compute: Parameters<typeof taskUpdate>[3],
  ) => {
    const res = await taskUpdate(sql, assertTaskId(id), version, compute);
    if (!res.ok && res.reason === 'not_found') throw new ApiError('TASK_NOT_FOUND', `no task with id ${id}`, { field: 'id' });
    if (!res.ok) {
      throw new ApiError('VERSION_CONFLICT', `task was changed by someone else: you sent version ${version}, it is now ${res.current!.version}`, {
        field: 'version',
        currentVersion: res.current!.version,
      });
    }
    return taskOut((await taskGet(sql, id)) ?? res.task);
  };

  const ifMatch = (header: string | undefined, bodyVersion?: number): number | undefined => {
    if (bodyVersion !== undefined) return bodyVersion;
    if (!header) return undefined;
    const v = Number(header.replace(/^W\//, '').replace(/"/g, ''));
    if (!Number.isInteger(v) || v < 1) throw new ApiError('PRECONDITION_FAILED', 'If-Match must be a task version, e.g. "3"', { field: 'header.if-match' });
    return v;
  };

  app.patch<{ Params: { id: string }; Body: TaskPatch; Headers: { 'if-match'?: string } }>(
    '/api/tasks/:id',
    { schema: { summary: 'Edit a task (optimistic concurrency via version or If-Match)', tags: ['tasks'], params: IdParams, body: TaskPatch, response: { 200: Task, ...errors } } },
    async (req, reply) => patch(req.params.id, req.body, req.headers['if-match'], reply),
  );

  async function patch(id: string, body: TaskPatch, ifMatchHeader: string | undefined, reply: FastifyReply) {
    const version = ifMatch(ifMatchHeader, body.version);
    const out = await update(id, version, (current) => {
      const { change, cancelPending, wake } = taskChangeFromPatch(body, current, clock.now(), inputOpts);
      return { change, cancelPending, notice: 'updated', wake: wake && soon(change.nextRunAt) };
    });
    return reply.header('etag', `"${out.version}"`).send(out);
  }

  app.delete<{ Params: { id: string }; Querystring: { purge?: boolean } }>(
    '/api/tasks/:id',
    { schema: { summary: 'Delete a task; nothing more fires, its history stays', tags: ['tasks'], params: IdParams, querystring: PurgeQuery, response: { 404: ErrorBody } } },
    async (req, reply) => {
      if (!(await taskDelete(sql, assertTaskId(req.params.id), req.query.purge))) {
        throw new ApiError('TASK_NOT_FOUND', `no task with id ${req.params.id}`, { field: 'id' });
      }
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/tasks/:id/pause',
    { schema: { summary: 'Pause: no occurrence fires until resumed', tags: ['tasks'], params: IdParams, response: { 200: Task, ...errors } } },
    async (req) =>
      update(req.params.id, undefined, (current) => {
        // a one-time task claimed ahead reads completed in its row until it fires; while its
        // occurrence is still to come it can be paused like any other
        const heldAhead = !!current.heldNextAt && current.heldNextAt.getTime() > clock.now().getTime();
        if (current.state === 'completed' && !heldAhead) throw new ApiError('TASK_NOT_ACTIVE', 'task is completed; nothing to pause');
        const change: TaskChange = { state: 'paused', nextRunAt: null };
        return { change, cancelPending: 'task paused', notice: 'paused', wake: false };
      }),
  );

  app.post<{ Params: { id: string } }>(
    '/api/tasks/:id/resume',
    { schema: { summary: 'Resume a paused task from now', tags: ['tasks'], params: IdParams, response: { 200: Task, ...errors } } },
    async (req) =>
      update(req.params.id, undefined, (current) => {
        if (current.state === 'active') return { change: {}, notice: 'resumed', wake: false };
        const change = resumeChange(current, clock.now());
        return { change, notice: 'resumed', wake: soon(change.nextRunAt) };
      }),
  );

  app.post<{ Params: { id: string } }>(
    '/api/tasks/:id/trigger',
    {
      schema: {
        summary: 'Run now, once, without disturbing the schedule',
        tags: ['tasks'],
        params: IdParams,
        response: { 202: Run, ...errors },
      },
    },
    async (req, reply) => {
      const run = await runInsertManual(sql, assertTaskId(req.params.id));
      if (!run) throw new ApiError('TASK_NOT_FOUND', `no task with id ${req.params.id}`, { field: 'id' });
      return reply.code(202).send(runOut(run));
    },
  );

}
