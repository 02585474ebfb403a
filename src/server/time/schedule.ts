// A stored recurring schedule (a task row's cron fields) as a compiled cron: the one
// place that maps the row's columns onto a CronSpec, for the API and the claim alike.
import { compileCron, type CompiledCron } from './cron.js';

/** The cron columns of a task (or a task being created). */
export interface CronSchedule {
  cronExpression: string | null;
  timezone: string;
  startAt: Date | null;
  endAt: Date | null;
}

export function scheduleCron(t: CronSchedule): CompiledCron {
  if (t.cronExpression === null) throw new TypeError('scheduleCron: the task has no cron expression');
  return compileCron({ expression: t.cronExpression, timezone: t.timezone, startAt: t.startAt, endAt: t.endAt });
}

/** First occurrence at or after `from` (null: the schedule has nothing left). */
export function firstOccurrence(t: CronSchedule, from: Date): Date | null {
  return scheduleCron(t).nextAfter(new Date(from.getTime() - 1));
}
