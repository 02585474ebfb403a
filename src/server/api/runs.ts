import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody, Preview, PreviewQuery, RetryManyBody, RetryManyResult, Run, RunListQuery, RunPage, Cluster, Stats, Targets } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import { runLagByMinute, runList, runRetry, runsFailedWebhookIds, runStats, runsFiredByNode } from '../store/runs.js';
import { nodeTargetsList } from '../store/targets.js';
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

/** A webhook origin as scheme://host[:port] (default ports dropped), or a 400 naming the field. */
function queryOrigin(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  let origin: string;
  try {
    const u = new URL(value);
    origin = u.origin;
    if (u.pathname !== '/' || u.search || u.hash || u.username) throw new Error('path');
  } catch {
    origin = 'null';
  }
  if (origin === 'null' || !/^https?:/.test(origin)) {
    throw new ApiError('VALIDATION_FAILED', `${field} must be an origin such as https://hooks.example:8443 (scheme, host and port only)`, { field });
  }
  return origin;
}

const TARGETS_WINDOW_S = 300;

/**
 * Merges the live nodes' per-origin snapshots: counts add up; percentiles come from the
 * union of the nodes' duration samples (each node keeps evenly spaced quantiles of its
 * window), so they are approximate across nodes and exact for one.
 */
function mergeTargets(snapshots: { nodeId: string; items: import('../webhooks/dispatcher.js').OriginSnapshot[] }[]) {
  const rank = { closed: 0, 'half-open': 1, open: 2 } as const;
  const by = new Map<string, { item: Omit<Targets['items'][number], 'p50Ms' | 'p99Ms'>; samples: number[]; weights: number[] }>();
  for (const s of snapshots) {
    for (const o of Array.isArray(s.items) ? s.items : []) {
      let m = by.get(o.origin);
      if (!m) {
        m = { item: { origin: o.origin, inFlight: 0, queued: 0, attempts: 0, failures: 0, circuit: 'closed', circuitSince: null, nodes: 0 }, samples: [], weights: [] };
        by.set(o.origin, m);
      }
      const it = m.item;
      it.inFlight += o.inFlight;
      it.queued += o.queued;
      it.attempts += o.attempts;
      it.failures += o.failures;
      it.nodes++;
      if (rank[o.circuit] > rank[it.circuit]) (it.circuit = o.circuit), (it.circuitSince = o.circuitSince);
      else if (o.circuit === it.circuit && o.circuitSince && (!it.circuitSince || o.circuitSince < it.circuitSince)) it.circuitSince = o.circuitSince;
      // each sample of a node stands for attempts/samples of its attempts
      for (const v of o.samples ?? []) (m.samples.push(v), m.weights.push(o.samples.length ? o.attempts / o.samples.length : 0));
    }
  }
  const pct = (vals: number[], w: number[], q: number) => {
    if (!vals.length) return null;
    const idx = vals.map((_, i) => i).sort((a, b) => vals[a]! - vals[b]!);
    const total = w.reduce((a, b) => a + b, 0);
    let acc = 0;
    for (const i of idx) {
      acc += w[i]!;
      if (acc >= q * total) return vals[i]!;
    }
    return vals[idx[idx.length - 1]!]!;
  };
  return [...by.values()]
    .map((m) => ({ ...m.item, p50Ms: pct(m.samples, m.weights, 0.5), p99Ms: pct(m.samples, m.weights, 0.99) }))
    .sort((a, b) => b.attempts + b.queued + b.inFlight - (a.attempts + a.queued + a.inFlight));
}

export function runRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql } = deps;

  const retryError = (r: { why: 'not-found' | 'not-retryable' | 'in-progress'; detail: string; retryId?: string }, id: string) =>
    r.why === 'not-found'
      ? new ApiError('RUN_NOT_FOUND', r.detail, { id })
      : r.why === 'in-progress'
        ? new ApiError('RETRY_IN_PROGRESS', r.detail, { id, retryId: r.retryId })
        : new ApiError('RUN_NOT_RETRYABLE', r.detail, { id });

  app.post<{ Params: { id: string } }>(
    '/api/runs/:id/retry',
    {
      schema: {
        summary: 'Redrive a failed webhook run: a new run linked to it (retryOf), with the original occurrence\'s Idempotency-Key',
        tags: ['runs'],
        params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,18}$' }) }),
        response: { 201: Run, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody },
      },
    },
    async (req, reply) => {
      const r = await runRetry(sql, req.params.id, req.principal?.id ?? null);
      if (!r.ok) throw retryError(r, req.params.id);
      return reply.code(201).send(runOut(r.run));
    },
  );

  app.post<{ Body: RetryManyBody }>(
    '/api/runs/retry',
    {
      schema: {
        summary: 'Redrive the failed webhook runs of a task or of an origin (newest first, at most `limit`)',
        tags: ['runs'],
        body: RetryManyBody,
        response: { 200: RetryManyResult, 400: ErrorBody },
      },
    },
    async (req) => {
      const origin = queryOrigin(req.body.origin, 'origin');
      if (!req.body.taskId && !origin) throw new ApiError('VALIDATION_FAILED', 'name the failed runs to retry: taskId or origin', { field: 'taskId' });
      const ids = await runsFailedWebhookIds(sql, { taskId: req.body.taskId, origin, limit: req.body.limit ?? 100 });
      const runs: string[] = [];
      for (const id of ids) {
        const r = await runRetry(sql, id, req.principal?.id ?? null);
        if (r.ok) runs.push(r.run.id);
      }
      return { retried: runs.length, runs };
    },
  );

  app.get(
    '/api/targets',
    { schema: { summary: 'Webhook origins: in flight, queued, attempts, failures, durations and circuit state, merged over live nodes', tags: ['cluster'], response: { 200: Targets } } },
    async () => ({
      generatedAt: new Date().toISOString(),
      windowSeconds: TARGETS_WINDOW_S,
      items: mergeTargets(await nodeTargetsList(sql, 30_000)),
    }),
  );

  app.get<{ Querystring: RunListQuery }>(
    '/api/runs',
    { schema: { summary: 'The execution log, newest first', tags: ['runs'], querystring: RunListQuery, response: { 200: RunPage, 400: ErrorBody } } },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 50;
      const after = decodeCursor(q.cursor);
      const rows = await runList(sql, {
        taskId: q.taskId,
        origin: queryOrigin(q.origin, 'origin'),
        keyPrefix: q.keyPrefix,
        nodeId: q.nodeId,
        status: q.status,
        from: queryInstant(q.from, 'from'),
        to: queryInstant(q.to, 'to'),
        limit: limit + 1,
        after,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(runOut),
        nextCursor: rows.length > limit && last ? encodeCursor(last.cursorUs, last.id) : null,
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
