import type { FastifyInstance } from 'fastify';
import { ErrorBody, Preview, PreviewQuery, RunListQuery, RunPage, Cluster, Stats } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import { runLagByMinute, runList, runStats, runsFiredByNode } from '../store/runs.js';
import { nodeList } from '../store/nodes.js';
import { taskCountsByState } from '../store/tasks.js';
import { compileCron, describeOccurrence, ScheduleError } from '../time/cron.js';
import type { ApiDeps } from './server.js';
import { decodeCursor, encodeCursor, runOut } from './serialize.js';

/** The date-time format lets 23:59:60 (a leap second) through; Date cannot represent it. */
function queryInstant(value: string | undefined, field: string): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new ApiError('VALIDATION_FAILED', `${field} is not a valid date-time`, { field });
  return d;
}

export function runRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql } = deps;

  app.get<{ Querystring: RunListQuery }>(
    '/api/runs',
    { schema: { summary: 'The execution log, newest first', tags: ['runs'], querystring: RunListQuery, response: { 200: RunPage, 400: ErrorBody } } },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 50;
      const after = decodeCursor(q.cursor);
      const rows = await runList(sql, {
        taskId: q.taskId,
        nodeId: q.nodeId,
        status: q.status,
        from: queryInstant(q.from, 'from'),
        to: queryInstant(q.to, 'to'),
        limit: limit + 1,
        after: after && { scheduledFor: after.at, id: after.id },
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(runOut),
        nextCursor: rows.length > limit && last ? encodeCursor(last.scheduledFor, last.id) : null,
      };
    },
  );

  const preview = (q: PreviewQuery) => {
    try {
      const timezone = q.timezone ?? 'UTC';
      const startAt = q.startAt ? new Date(q.startAt) : null;
      const endAt = q.endAt ? new Date(q.endAt) : null;
      const cron = compileCron({ expression: q.expression.trim(), timezone, startAt, endAt });
      const now = deps.clock.now();
      const from = startAt && startAt > now ? new Date(startAt.getTime() - 1) : now;
      const occ = cron.next(from, q.count ?? 5);
      return {
        description: cron.describe(),
        timezone,
        occurrences: occ.map((d) => d.toISOString()),
        details: occ.map((d) => describeOccurrence(cron, d)),
      };
    } catch (err) {
      if (err instanceof ScheduleError) {
        // the preview takes the schedule's fields at the top level: name them that way
        const field = err.field.replace(/^schedule\./, '');
        throw new ApiError(err.code === 'INVALID_TIMEZONE' ? 'INVALID_TIMEZONE' : 'INVALID_SCHEDULE', err.message, { field });
      }
      throw err;
    }
  };

  app.get<{ Querystring: PreviewQuery }>(
    '/api/schedules/preview',
    { schema: { summary: 'Next occurrences and a description of a cron schedule', tags: ['schedules'], querystring: PreviewQuery, response: { 200: Preview, 400: ErrorBody } } },
    async (req) => preview(req.query),
  );
  app.post<{ Body: PreviewQuery }>(
    '/api/schedules/preview',
    { schema: { summary: 'Same as GET, with a JSON body', tags: ['schedules'], body: PreviewQuery, response: { 200: Preview, 400: ErrorBody } } },
    async (req) => preview(req.body),
  );

  app.get('/api/cluster', { schema: { summary: 'Live nodes, and nodes that died in the last minutes', tags: ['cluster'], response: { 200: Cluster } } }, async () => {
    const [nodes, fired] = await Promise.all([nodeList(sql), runsFiredByNode(sql, new Date(Date.now() - 60_000))]);
    return {
      nodes: nodes.map((n) => ({
        id: n.id,
        host: n.host,
        pid: n.pid,
        version: n.version,
        startedAt: n.startedAt.toISOString(),
        heartbeatAt: n.heartbeatAt.toISOString(),
        alive: n.alive,
        firedLastMinute: fired.get(n.id) ?? 0,
        self: n.id === deps.nodeId,
        clockOffsetMs: n.clockOffsetMs,
        clockUncertaintyMs: n.clockRttMs === null ? null : n.clockRttMs / 2,
        held: n.held,
      })),
    };
  });

  app.get('/api/stats', { schema: { summary: 'Counts and recent lag for the overview', tags: ['cluster'], response: { 200: Stats } } }, async () => {
    const [tasks, runs, lag] = await Promise.all([taskCountsByState(sql), runStats(sql), runLagByMinute(sql)]);
    return {
      tasks: { active: tasks.active ?? 0, paused: tasks.paused ?? 0, completed: tasks.completed ?? 0 },
      runs,
      lag: lag.map((l) => ({ minute: l.minute.toISOString(), runs: Number(l.runs), p50Ms: l.p50, p99Ms: l.p99 })),
    };
  });
}
