// GET /api/stats/upcoming: occurrences due per minute over the next hours, so an operator
// sees the 09:00 spike before it happens. One-time tasks are counted in PostgreSQL;
// recurring tasks are grouped by schedule there and each distinct schedule is projected
// once here and multiplied by the number of tasks that share it. The work per request is
// bounded by UPCOMING_LIMITS, not by the number of tasks.
import type { FastifyInstance } from 'fastify';
import { ErrorBody, Upcoming, UpcomingQuery, UPCOMING_LIMITS, type UpcomingBucket } from '../../shared/schemas.js';
import { tasksCronGroupBySchedule, tasksOnceCountByMinute, type CronScheduleGroup } from '../store/upcoming.js';
import { compileCron } from '../time/cron.js';
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

export function upcomingRoutes(app: FastifyInstance, deps: ApiDeps) {
  const { sql } = deps;
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
    async (req) => {
      const hours = req.query.hours ?? 6;
      const now = deps.clock.now().getTime();
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
    },
  );
}
