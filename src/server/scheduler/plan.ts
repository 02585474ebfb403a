// Every rule about an occurrence's time, and the types they decide over: what a claim
// does with a due task (fire, fire late, record misfires, stop a broken schedule), and
// what firing a held run means (on time, late, or skipped because its node was lost).
// No I/O, so the rules are tested with plain dates; the store and the services
// import these types and decisions, never the other way round.
import { scheduleCron } from '../time/schedule.js';

/** Most misfired occurrences recorded per task per claim; the rest follow on the next pass. */
export const MISFIRE_BATCH = 1000;

export type MisfirePolicy = 'fire_once' | 'skip';

/** What the claim reads of a due task to plan it. */
export interface DueTask {
  id: string;
  kind: 'once' | 'cron';
  cronExpression: string | null;
  timezone: string;
  startAt: Date | null;
  endAt: Date | null;
  misfirePolicy: MisfirePolicy;
  nextRunAt: Date;
}

export interface PlannedRun {
  scheduledFor: Date;
  status: 'pending' | 'skipped';
  reason: string | null;
  late: boolean;
}

export interface ClaimPlan {
  runs: PlannedRun[];
  nextRunAt: Date | null;
  state: 'active' | 'completed';
  /** set when the stored schedule no longer evaluates: the task was stopped */
  scheduleError?: string;
}

/**
 * What claiming a due task means.
 * - once: one run, the task completes. Late if the cluster could not start it in time;
 *   it still fires (a reminder late is better than a reminder lost).
 * - cron, on time (or late by less than the misfire threshold): one run, advance.
 * - cron, misfired (the cluster was down): every missed occurrence is accounted for.
 *   `skip` records them all as skipped; `fire_once` records all but the latest as
 *   skipped and fires the latest once, late. At most MISFIRE_BATCH per pass.
 * - a stored schedule that no longer evaluates: its occurrence is recorded as skipped
 *   with the error and the task completes, so one broken row cannot wedge a claim batch.
 */
export function planClaim(t: DueTask, now: Date, misfireThresholdMs: number): ClaimPlan {
  try {
    return planSchedule(t, now, misfireThresholdMs);
  } catch (err) {
    const message = (err as Error).message;
    return {
      runs: [{ scheduledFor: t.nextRunAt, status: 'skipped', late: false, reason: `schedule error: ${message}` }],
      nextRunAt: null,
      state: 'completed',
      scheduleError: message,
    };
  }
}

function planSchedule(t: DueTask, now: Date, misfireThresholdMs: number): ClaimPlan {
  const due = t.nextRunAt;
  if (t.kind === 'once') {
    const late = now.getTime() - due.getTime() > misfireThresholdMs;
    return {
      runs: [{ scheduledFor: due, status: 'pending', late, reason: late ? 'fired late: the cluster was unavailable at its time' : null }],
      nextRunAt: null,
      state: 'completed',
    };
  }
  const cron = scheduleCron(t);
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

/** What the executor knows of a held run when it decides how to fire it. */
export interface HeldOccurrence {
  taskId: string;
  scheduledFor: Date;
  trigger: 'schedule' | 'manual';
  /** decided at claim time (a misfire catch-up, a late one-time task) */
  late: boolean;
  reason: string | null;
  /** taken over from another node (lost or drained), not claimed from its task */
  rescued: boolean;
  kind: 'once' | 'cron';
  misfirePolicy: MisfirePolicy;
  /** the task's lateness limit (null: none) */
  maxLatenessMs: number | null;
  /** set on a redrive of a failed run: never judged by the lateness limit */
  retryOf: string | null;
}

export type FireDecision =
  | { fire: true; lagMs: number; late: boolean; reason: string | null }
  | { fire: false; lagMs: number; reason: string };

export function lateBeyondLimit(run: Pick<HeldOccurrence, 'maxLatenessMs' | 'retryOf' | 'trigger'>, lagMs: number): boolean {
  return run.maxLatenessMs !== null && run.maxLatenessMs !== undefined && run.trigger === 'schedule' && !run.retryOf && lagMs > run.maxLatenessMs;
}

export function expiredReason(lagMs: number, maxLatenessMs: number): string {
  return `expired: the first attempt would have started ${lagMs} ms after its time (maxLatenessMs ${maxLatenessMs})`;
}

export function firedLateReason(lagMs: number): string {
  return `fired ${Math.round(lagMs / 1000)} s late`;
}

/**
 * What firing a held run at `startedAt` means. It fires, late if it starts more than
 * the misfire threshold after its time (the reason says by how much, unless the claim
 * already gave one). One exception keeps the `skip` policy honest when a node is
 * lost: a scheduled cron occurrence rescued from another node after its threshold
 * passed is recorded as skipped, as the claim would have recorded it.
 */
export function planFire(run: HeldOccurrence, startedAt: Date, misfireThresholdMs: number): FireDecision {
  const lagMs = startedAt.getTime() - run.scheduledFor.getTime();
  // `maxLatenessMs`: a scheduled occurrence that would start too late is not fired at all
  // (manual triggers and redrives are not judged). With the misfire policy the stricter
  // rule wins: a misfired occurrence `skip` drops is skipped whatever the limit, and one
  // `fire_once` would fire late is still expired when it is later than the limit.
  // Webhooks are judged again at their first attempt (the deliverer), after any queueing.
  if (lateBeyondLimit(run, lagMs)) {
    return { fire: false, lagMs, reason: expiredReason(lagMs, run.maxLatenessMs!) };
  }
  const overdue = lagMs > misfireThresholdMs;
  if (overdue && run.rescued && run.kind === 'cron' && run.misfirePolicy === 'skip' && run.trigger === 'schedule') {
    return { fire: false, lagMs, reason: 'misfired: skipped by policy (its node was lost)' };
  }
  const late = run.late || overdue;
  return { fire: true, lagMs, late, reason: late && !run.reason ? firedLateReason(lagMs) : run.reason };
}

/**
 * planFire for the runs that fall due together, with the `fire_once` rule applied to
 * rescued runs as the claim applies it to missed occurrences: of one task's scheduled
 * occurrences rescued past their threshold (claimed ahead by a node that was lost),
 * only the latest fires, late; the earlier ones are recorded as coalesced into it.
 */
export function planFireDue<T extends HeldOccurrence>(runs: T[], startedAt: Date, misfireThresholdMs: number): [T, FireDecision][] {
  const coalescable = (r: HeldOccurrence) =>
    r.rescued && r.kind === 'cron' && r.misfirePolicy === 'fire_once' && r.trigger === 'schedule' &&
    startedAt.getTime() - r.scheduledFor.getTime() > misfireThresholdMs;
  const latest = new Map<string, T>();
  for (const r of runs) {
    if (!coalescable(r)) continue;
    const l = latest.get(r.taskId);
    if (!l || r.scheduledFor > l.scheduledFor) latest.set(r.taskId, r);
  }
  return runs.map((r) => {
    if (coalescable(r) && latest.get(r.taskId) !== r) {
      return [r, { fire: false, lagMs: startedAt.getTime() - r.scheduledFor.getTime(), reason: 'misfired: coalesced into one late run (its node was lost)' }];
    }
    return [r, planFire(r, startedAt, misfireThresholdMs)];
  });
}
