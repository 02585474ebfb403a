// GET /api/stats/upcoming: occurrences due per minute over the next hours, so an operator
// sees the 09:00 spike before it happens. One-time tasks are counted in PostgreSQL;
// recurring tasks are grouped by schedule there and each distinct schedule is projected
// once here and multiplied by the number of tasks that share it. The work per request is
// bounded by UPCOMING_LIMITS, not by the number of tasks.
//
// Measured (bench/upcoming.ts, 1,000,000 one-time + 1,000,000 recurring tasks in 481
// schedules, on a busy 2-core machine): projecting the groups takes 0.66 s cold, against
// ~714 s extrapolated for evaluating every task's cron on its own; one whole computation
// takes 1.4–1.9 s (median), nearly all of it the two statements (0.9 s for the index range
// over the one-time tasks, 0.67 s for the group-by). So answers are shared: concurrent
// requests wait for one computation, and an answer is reused for up to 10 s, or 1 s once a
// task has changed anywhere in the cluster (the event hub relays every node's task
// notices); a shared answer came back in 14–43 ms. However many dashboards are
// open, a node computes each window (1, 6, 24 h) at most once a second.
import type { FastifyInstance } from 'fastify';
import { ErrorBody, Upcoming, UpcomingQuery, UPCOMING_LIMITS, type UpcomingBucket } from '../../shared/schemas.js';
import { tasksCronGroupBySchedule, tasksOnceCountByMinute, type CronScheduleGroup } from '../store/upcoming.js';
import { compileCron } from '../time/cron.js';
import type { Sql } from '../store/db.js';
import type { ApiDeps } from './server.js';

const MINUTE = 60_000;

export interface Projection {
  /** recurring occurrences per minute bucket, multiplied by group size */
  perBucket: number[];
  unprojectedTasks: number;
  occurrences: number;
}

/**
 * Adds each group's occurrences in [now, to) to per-minute buckets starting at `from`.
 * A group whose occurrences would take the total past `maxOccurrences` is left out whole
 * (a half-projected schedule would draw a cliff that is not there) and its tasks counted
 * in `unprojectedTasks`; groups come largest first, so what is left out weighs least.
 */
export function projectRecurring(
  groups: CronScheduleGroup[],
  opts: { from: number; now: number; to: number; maxOccurrences: number },
): Projection {
  const buckets = Math.ceil((opts.to - opts.from) / MINUTE);
  const perBucket = new Array<number>(buckets).fill(0);
  let occurrences = 0;
  let unprojectedTasks = 0;
  for (const g of groups) {
    let cron;
    try {
      cron = compileCron({ expression: g.cronExpression, timezone: g.timezone, startAt: g.startAt, endAt: g.endAt });
    } catch {
      unprojectedTasks += g.tasks; // stored before a validation rule tightened: not ours to judge here
      continue;
    }
    const hits: number[] = [];
    let after = new Date(opts.now - 1);
    let complete = false;
    while (occurrences + hits.length < opts.maxOccurrences) {
      const batch = cron.next(after, Math.min(1000, opts.maxOccurrences - occurrences - hits.length));
      for (const d of batch) {
        if (d.getTime() >= opts.to) {
          complete = true;
          break;
        }
        hits.push(Math.floor((d.getTime() - opts.from) / MINUTE));
      }
      if (complete || batch.length === 0) {
        complete = true;
        break;
      }
      after = batch[batch.length - 1]!;
    }
    if (!complete) {
      unprojectedTasks += g.tasks;
      continue;
    }
    occurrences += hits.length;
    for (const i of hits) perBucket[i]! += g.tasks;
  }
  return { perBucket, unprojectedTasks, occurrences };
}

const FRESH_MS = 10_000;
const FRESH_AFTER_CHANGE_MS = 1_000;

interface Shared {
  computedAt: number;
  /** a task changed after this answer was computed */
  dirty: boolean;
  value: Promise<Upcoming>;
}

/** The answer at `now`, computed afresh: two statements and the bounded projection. */
export async function upcomingCompute(sql: Sql, now: number, hours: number): Promise<Upcoming> {
  const from = Math.floor(now / MINUTE) * MINUTE;
  const to = from + hours * 60 * MINUTE;
  const [once, cron] = await Promise.all([
    tasksOnceCountByMinute(sql, new Date(now), new Date(to)),
    tasksCronGroupBySchedule(sql, UPCOMING_LIMITS.maxScheduleGroups),
  ]);
  const projection = projectRecurring(cron.groups, { from, now, to, maxOccurrences: UPCOMING_LIMITS.maxOccurrences });
  const onceBy = new Map(once.map((o) => [Math.floor((o.minute.getTime() - from) / MINUTE), o.n]));
  const buckets: UpcomingBucket[] = projection.perBucket.map((recurring, i) => ({
    at: new Date(from + i * MINUTE).toISOString(),
    once: onceBy.get(i) ?? 0,
    recurring,
  }));
  const outsideGroups = cron.total - cron.groups.reduce((n, g) => n + g.tasks, 0);
  return {
    from: new Date(from).toISOString(),
    bucketMinutes: 1 as const,
    buckets,
    scheduleGroups: cron.groups.length,
    unprojectedTasks: projection.unprojectedTasks + outsideGroups,
  };
}

export function upcomingRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql } = deps;
  const shared = new Map<number, Shared>();
  const unsubscribe = deps.hub.subscribe((event) => {
    if (event.type === 'tasks') for (const entry of shared.values()) entry.dirty = true;
  });
  app.addHook('onClose', async () => unsubscribe());

  const answer = (hours: number): Promise<Upcoming> => {
    const now = deps.clock.now().getTime();
    const entry = shared.get(hours);
    const age = entry ? now - entry.computedAt : Infinity;
    // the minute turned: the first bucket is no longer the current minute
    const sameMinute = entry ? Math.floor(entry.computedAt / MINUTE) === Math.floor(now / MINUTE) : false;
    if (entry && sameMinute && age < (entry.dirty ? FRESH_AFTER_CHANGE_MS : FRESH_MS)) return entry.value;
    const value = upcomingCompute(sql, now, hours);
    const next: Shared = { computedAt: now, dirty: false, value };
    shared.set(hours, next);
    // a failed computation is not shared: the next request tries again
    value.catch(() => shared.get(hours) === next && shared.delete(hours));
    return value;
  };

  app.get<{ Querystring: UpcomingQuery }>(
    '/api/stats/upcoming',
    {
      schema: {
        summary: 'Occurrences due per minute over the next hours: one-time tasks counted, recurring tasks projected from their schedules',
        tags: ['cluster'],
        querystring: UpcomingQuery,
        response: { 200: Upcoming, 400: ErrorBody },
      },
    },
    async (req) => answer(req.query.hours ?? 6),
  );
}
