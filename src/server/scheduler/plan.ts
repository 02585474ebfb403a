// Pure decisions about occurrences: the first one of a new schedule, and what a claim
// does with a due task (fire, fire late, or record misfires). No I/O, so the rules
// are tested with plain dates.
import { compileCron } from '../time/cron.js';
import type { ClaimPlan, DueTask, PlannedRun } from '../store/runs.js';

/** Most misfired occurrences recorded per task per claim; the rest follow on the next pass. */
export const MISFIRE_BATCH = 1000;

export interface CronFields {
  cronExpression: string;
  timezone: string;
  startAt: Date | null;
  endAt: Date | null;
}

export function compileTaskCron(t: CronFields) {
  return compileCron({ expression: t.cronExpression, timezone: t.timezone, startAt: t.startAt, endAt: t.endAt });
}

/** First occurrence at or after `from` (null: the schedule has nothing left). */
export function firstOccurrence(t: CronFields, from: Date): Date | null {
  return compileTaskCron(t).nextAfter(new Date(from.getTime() - 1));
}

/**
 * What claiming a due task means.
 * - once: one run, the task completes. Late if the cluster could not start it in time;
 *   it still fires (a reminder late is better than a reminder lost).
 * - cron, on time (or late by less than the misfire threshold): one run, advance.
 * - cron, misfired (the cluster was down): every missed occurrence is accounted for.
 *   `skip` records them all as skipped; `fire_once` records all but the latest as
 *   skipped and fires the latest once, late. At most MISFIRE_BATCH per pass.
 */
export function planClaim(t: DueTask, now: Date, misfireThresholdMs: number): ClaimPlan {
  const due = t.nextRunAt!;
  if (t.kind === 'once') {
    const late = now.getTime() - due.getTime() > misfireThresholdMs;
    return {
      runs: [{ scheduledFor: due, status: 'pending', late, reason: late ? 'fired late: the cluster was unavailable at its time' : null }],
      nextRunAt: null,
      state: 'completed',
    };
  }
  const cron = compileTaskCron(t as CronFields);
  const cutoff = now.getTime() - misfireThresholdMs;
  if (due.getTime() >= cutoff) {
    const next = cron.nextAfter(due);
    return {
      runs: [{ scheduledFor: due, status: 'pending', late: false, reason: null }],
      nextRunAt: next,
      state: next ? 'active' : 'completed',
    };
  }
  // Misfired: walk the missed occurrences.
  const missed: Date[] = [due];
  let next = cron.nextAfter(due);
  while (next && next.getTime() < cutoff && missed.length < MISFIRE_BATCH) {
    missed.push(next);
    next = cron.nextAfter(next);
  }
  const caughtUp = !next || next.getTime() >= cutoff;
  const runs: PlannedRun[] = missed.map((at) => ({
    scheduledFor: at,
    status: 'skipped',
    late: false,
    reason: t.misfirePolicy === 'skip' ? 'misfired: skipped by policy' : 'misfired: coalesced into one late run',
  }));
  if (t.misfirePolicy === 'fire_once' && caughtUp) {
    runs[runs.length - 1] = {
      scheduledFor: missed[missed.length - 1]!,
      status: 'pending',
      late: true,
      reason: missed.length > 1 ? `misfired: fired once late, ${missed.length - 1} earlier missed` : 'misfired: fired late',
    };
  }
  return { runs, nextRunAt: next, state: next ? 'active' : 'completed' };
}
