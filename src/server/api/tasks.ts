import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Run, Task, TaskCreate, TaskListQuery, TaskPage, TaskPatch, ErrorBody } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import { taskDelete, taskGet, taskInsert, taskList, taskUpdate, type TaskChange } from '../store/tasks.js';
import { runInsertManual } from '../store/runs.js';
import { scheduleCron } from '../time/schedule.js';
import type { ApiDeps } from './server.js';
import { assertTaskId, decodeCursor, encodeCursor, runOut, taskOut } from './serialize.js';
import { requestHash, resumeChange, taskChangeFromPatch, taskInsertFromCreate } from './task-input.js';

const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export function taskRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql, clock } = deps;
  const soon = (d: Date | null | undefined) => !!d && d.getTime() <= clock.now().getTime() + deps.lookaheadMs;
  const inputOpts = { allow: deps.webhookAllow };
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
      const { task, created } = await taskInsert(sql, row, soon(row.nextRunAt));
      if (!created && task.idempotencyHash !== requestHash(req.body)) {
        throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different request', {
          field: 'header.idempotency-key',
          taskId: task.id,
        });
      }
      if (!created) reply.header('idempotent-replayed', 'true');
      const full = await taskGet(sql, task.id);
      return reply.code(created ? 201 : 200).header('location', `/api/tasks/${task.id}`).send(taskOut(full ?? task));
    },
  );

  app.get<{ Querystring: TaskListQuery }>(
    '/api/tasks',
    { schema: { summary: 'List tasks, newest first', tags: ['tasks'], querystring: TaskListQuery, response: { 200: TaskPage, 400: ErrorBody } } },
    async (req) => {
      const limit = req.query.limit ?? 50;
      const after = decodeCursor(req.query.cursor);
      const rows = await taskList(sql, {
        state: req.query.state,
        kind: req.query.kind,
        q: req.query.q,
        limit: limit + 1,
        after: after && { createdAt: after.at, id: after.id },
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((t) => taskOut(t, undefined, redact(req))),
        nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/tasks/:id',
    { schema: { summary: 'A task, with its next occurrences', tags: ['tasks'], params: IdParams, response: { 200: Task, ...errors } } },
    async (req) => {
      const t = await taskGet(sql, assertTaskId(req.params.id));
      if (!t) throw new ApiError('TASK_NOT_FOUND', `no task with id ${req.params.id}`, { field: 'id' });
      let upcoming: Date[] = [];
      if (t.nextRunAt && t.kind === 'cron') {
        const cron = scheduleCron(t);
        upcoming = [t.nextRunAt, ...cron.next(t.nextRunAt, 4)];
      } else if (t.nextRunAt) upcoming = [t.nextRunAt];
      return taskOut(t, upcoming, redact(req));
    },
  );

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
    async (req, reply) => {
      const version = ifMatch(req.headers['if-match'], req.body.version);
      const out = await update(req.params.id, version, (current) => {
        const { change, cancelPending, wake } = taskChangeFromPatch(req.body, current, clock.now(), inputOpts);
        return { change, cancelPending, notice: 'updated', wake: wake && soon(change.nextRunAt) };
      });
      return reply.header('etag', `"${out.version}"`).send(out);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/tasks/:id',
    { schema: { summary: 'Delete a task; nothing more fires, its history stays', tags: ['tasks'], params: IdParams, response: { 404: ErrorBody } } },
    async (req, reply) => {
      if (!(await taskDelete(sql, assertTaskId(req.params.id)))) {
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
        if (current.state === 'completed') throw new ApiError('TASK_NOT_ACTIVE', 'task is completed; nothing to pause');
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
        response: { 202: Type.Object({ run: Run }), ...errors },
      },
    },
    async (req, reply) => {
      const run = await runInsertManual(sql, assertTaskId(req.params.id));
      if (!run) throw new ApiError('TASK_NOT_FOUND', `no task with id ${req.params.id}`, { field: 'id' });
      return reply.code(202).send({ run: runOut(run) });
    },
  );

}
