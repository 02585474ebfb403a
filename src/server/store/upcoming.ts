// The statements behind the upcoming-load projection (GET /api/stats/upcoming). They read
// counts and distinct schedules, never task rows one by one: a million reminders due at
// 09:00 are one group-by over an index range, a million identical crons one group.
import type { Sql } from './db.js';

export interface OnceMinuteCount {
  minute: Date;
  n: number;
}

/**
 * One-time occurrences per minute in [from, to): active one-time tasks not yet claimed
 * (their next_run_at, a range of tasks_due_idx), plus one-time runs claimed ahead and not
 * yet fired (pending runs, a range of runs_open_idx). A claimed task has next_run_at null,
 * so no occurrence is in both.
 */
export async function tasksOnceCountByMinute(sql: Sql, from: Date, to: Date): Promise<OnceMinuteCount[]> {
  const rows = await sql<{ minute: Date; n: string }[]>`
    select minute, sum(n)::bigint as n from (
      select date_trunc('minute', next_run_at) as minute, count(*) as n
      from tasks
      where next_run_at >= ${from} and next_run_at < ${to} and kind = 'once' and state = 'active'
      group by 1
      union all
      select date_trunc('minute', r.scheduled_for), count(*)
      from runs r join tasks t on t.id = r.task_id
      where r.status = 'pending' and r.scheduled_for >= ${from} and r.scheduled_for < ${to}
        and r.trigger = 'schedule' and t.kind = 'once'
      group by 1
    ) s
    group by minute order by minute`;
  return rows.map((r) => ({ minute: r.minute, n: Number(r.n) }));
}

export interface CronScheduleGroup {
  cronExpression: string;
  timezone: string;
  startAt: Date | null;
  endAt: Date | null;
  tasks: number;
}

/**
 * Active recurring tasks grouped by their schedule (expression, zone and bounds): each
 * group's occurrences are computed once and multiplied by its size. Largest groups first,
 * at most `limit` of them; `total` counts every active recurring task so the caller can
 * say how many fell outside the bound.
 */
export async function tasksCronGroupBySchedule(sql: Sql, limit: number): Promise<{ groups: CronScheduleGroup[]; total: number }> {
  // sum() over () is taken before the limit: one scan yields the groups and the total.
  const groups = await sql<(Omit<CronScheduleGroup, 'tasks'> & { tasks: string; total: string })[]>`
    select cron_expression, timezone, start_at, end_at, count(*) as tasks, sum(count(*)) over () as total
    from tasks
    where kind = 'cron' and state = 'active'
    group by 1, 2, 3, 4
    order by tasks desc
    limit ${limit}`;
  const total = Number(groups[0]?.total ?? 0);
  return { groups: groups.map(({ total: _, ...g }) => ({ ...g, tasks: Number(g.tasks) })), total };
}
