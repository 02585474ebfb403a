import type { Logger } from 'pino';
import type { Clock, Timer } from '../time/clock.js';
import type { ClaimedRun } from '../store/runs.js';
import type { NoticeListener } from '../store/notices.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from './recorder.js';
import { planFire } from './plan.js';
import type { InFlight, Service } from './service.js';
import { TimerQueue } from './timer-queue.js';

/** Takes webhook runs at their instant and returns at once (webhooks/deliverer.ts). */
export interface WebhookSink {
  deliver(run: ClaimedRun, startedAt: Date, late: boolean, lateReason: string | null): void;
}

/**
 * Decides whether held runs may fire now. A node whose own event loop stalled past
 * its lease cannot know whether others rescued its runs meanwhile; until it has
 * confirmed its lease (heartbeat.ts) nothing overdue fires.
 */
export interface FiringGate {
  /** true when firing may proceed; otherwise `onOpen` is called once it may */
  open(onOpen: () => void): boolean;
}

export interface ExecutorDeps {
  clock: Clock;
  recorder: Pick<Recorder, 'add'>;
  inFlight: InFlight;
  metrics: Metrics;
  log: Logger;
  misfireThresholdMs: number;
  notices?: NoticeListener;
  webhooks?: WebhookSink;
  gate?: FiringGate;
}

/**
 * Memory one held run costs beyond its JSON text, measured with
 * `node --expose-gc` over 100,000 held runs (bench/held-memory.ts): the object, its
 * Date, the heap entry and the in-flight account's entry.
 */
export const HELD_RUN_OVERHEAD_BYTES = 400;

/** Approximate bytes one held run occupies (what the claimer's byte cap counts). */
export function heldRunBytes(run: ClaimedRun): number {
  return HELD_RUN_OVERHEAD_BYTES + 2 * JSON.stringify(run).length;
}

/**
 * Holds claimed occurrences in memory and fires each at its instant: one timer for
 * the earliest, a heap for the rest, so lag is the timer's precision (~1 ms), not a
 * poll interval. Firing a `log` run is its whole execution: its exact start time is
 * taken here and the result goes to the recorder. A webhook run is handed to the
 * deliverer with the same start time; its attempts run on their own, so they never
 * hold up the next occurrence. Nothing here waits on the database, so held runs keep
 * firing while it is away.
 */
export class Executor implements Service {
  private readonly queue = new TimerQueue<ClaimedRun>();
  private timer?: Timer;
  private timerAt = Infinity;
  private running = false;
  private unsubscribe?: () => void;
  /** held runs dropped by the last stop (the database still has them pending) */
  unfiredAtStop = 0;

  constructor(private readonly deps: ExecutorDeps) {}

  /** Runs held, not yet fired. */
  get held(): number {
    return this.queue.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // Drop held occurrences only when the change cancelled them in the database; an
    // edit that leaves them pending (a new name, payload or action) still fires them.
    this.unsubscribe = this.deps.notices?.subscribe('task', (n) => {
      if (n.cancelled) this.forgetTask(n.id, n.change === 'deleted');
    });
    this.arm();
  }

  /** Stops firing. What was held stays pending in the database for app.ts to hand back. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    const unfired = this.queue.drain();
    for (const r of unfired) this.deps.inFlight.close(r.id);
    this.unfiredAtStop = unfired.length;
  }

  hold(runs: ClaimedRun[]): void {
    for (const r of runs) {
      if (this.deps.inFlight.has(r.id)) continue; // already ours (held, firing or recording)
      this.deps.inFlight.open(r.id, heldRunBytes(r));
      this.queue.push(r.scheduledFor.getTime(), r);
    }
    this.arm();
  }

  /**
   * A task's claimed occurrences were cancelled: drop what is held for it (its fenced
   * result would be rejected anyway). A deletion cancels manual runs too.
   */
  forgetTask(taskId: string, manualToo = false): number {
    const dropped = this.queue.removeWhere((r) => r.taskId === taskId && (manualToo || r.trigger === 'schedule'));
    for (const r of dropped) this.deps.inFlight.close(r.id);
    if (dropped.length) this.arm(true);
    return dropped.length;
  }

  /** Drops held runs by id (the node learned they are no longer its own). */
  forget(ids: Set<string>): number {
    const dropped = this.queue.removeWhere((r) => ids.has(r.id));
    for (const r of dropped) this.deps.inFlight.close(r.id);
    if (dropped.length) this.arm(true);
    return dropped.length;
  }

  holdsTask(taskId: string): boolean {
    return this.queue.items().some((r) => r.taskId === taskId);
  }

  /** Up to `count` held runs due after `afterMs`, latest first (to hand back). */
  latestHeld(count: number, afterMs: number): { id: string; attempt: number }[] {
    return this.queue
      .items()
      .filter((r) => r.scheduledFor.getTime() > afterMs)
      .sort((a, b) => b.scheduledFor.getTime() - a.scheduledFor.getTime())
      .slice(0, count)
      .map((r) => ({ id: r.id, attempt: r.attempt }));
  }

  /** Held runs' ids and attempts, for checking them against the database. */
  heldRuns(): { id: string; attempt: number }[] {
    return this.queue.items().map((r) => ({ id: r.id, attempt: r.attempt }));
  }

  private arm(reset = false) {
    if (!this.running) return;
    if (reset) {
      this.timer?.cancel();
      this.timer = undefined;
      this.timerAt = Infinity;
    }
    const next = this.queue.peekKey();
    if (next === undefined) return;
    if (next >= this.timerAt && this.timer) return;
    this.timer?.cancel();
    this.timerAt = next;
    this.timer = this.deps.clock.setTimer(() => this.fireDue(), next - this.deps.clock.now().getTime());
  }

  private fireDue() {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.running) return;
    if (this.deps.gate && !this.deps.gate.open(() => this.arm())) return;
    const now = this.deps.clock.now();
    const due = this.queue.popDue(now.getTime());
    for (const run of due) this.fire(run, now);
    this.deps.metrics.inFlight.set(this.deps.inFlight.count);
    this.arm();
  }

  private fire(run: ClaimedRun, startedAt: Date) {
    const { recorder, metrics, log, misfireThresholdMs } = this.deps;
    const decision = planFire(run, startedAt, misfireThresholdMs);
    if (!decision.fire) {
      recorder.add({ id: run.id, attempt: run.attempt, status: 'skipped', startedAt: null, finishedAt: startedAt, late: false, reason: decision.reason });
      return;
    }
    // negative lag (a clock ahead of the database's) is recorded as it is, not clamped
    metrics.fireLag.observe(decision.lagMs / 1000);
    if (decision.lagMs > misfireThresholdMs) log.warn({ runId: run.id, lagMs: decision.lagMs }, 'occurrence fired late');
    if (run.actionType === 'webhook' && this.deps.webhooks) {
      this.deps.webhooks.deliver(run, startedAt, decision.late, decision.reason);
      return;
    }
    // The `log` action: recording the execution with its exact time is the whole job.
    recorder.add({
      id: run.id,
      attempt: run.attempt,
      status: 'succeeded',
      startedAt,
      finishedAt: this.deps.clock.now(),
      late: decision.late,
      reason: decision.reason,
    });
  }
}
