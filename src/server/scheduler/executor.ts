import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import type { ClaimedRun } from '../store/runs.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from './recorder.js';
import { TimerQueue } from './timer-queue.js';

/** Takes webhook runs at their instant and returns at once (webhooks/deliverer.ts). */
export interface WebhookSink {
  deliver(run: ClaimedRun, startedAt: Date, late: boolean, lateReason: string | null): void;
  readonly active: number;
}

/**
 * Holds claimed occurrences in memory and fires each at its instant: one timer for
 * the earliest, a heap for the rest, so lag is the timer's precision (~1 ms), not a
 * poll interval. Firing the `log` action is the execution the brief asks for: the
 * run's exact start time is taken here and the result goes to the recorder. A webhook
 * run is handed to the deliverer with the same start time; its HTTP attempts and
 * retries run on their own, so they never hold up the next occurrence.
 */
export class Executor {
  private readonly queue = new TimerQueue<ClaimedRun>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly recorder: Recorder,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly misfireThresholdMs: number,
    private readonly webhooks?: WebhookSink,
  ) {}

  /** Held here (not yet fired), webhooks being delivered, and fired but not yet recorded. */
  get inFlight(): number {
    return this.queue.size + this.recorder.pending + (this.webhooks?.active ?? 0);
  }

  get held(): number {
    return this.queue.size;
  }

  start(): void {
    this.running = true;
    this.arm();
  }

  /** Stops firing; returns what was held and not fired, for the caller to hand back. */
  stop(): ClaimedRun[] {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    return this.queue.drain();
  }

  hold(runs: ClaimedRun[]): void {
    for (const r of runs) this.queue.push(r.scheduledFor.getTime(), r);
    this.arm();
  }

  /** A task was edited, paused or deleted: drop what we hold for it (the fence would reject it anyway). */
  forgetTask(taskId: string): number {
    return this.queue.removeWhere((r) => r.taskId === taskId && r.trigger === 'schedule').length;
  }

  private arm() {
    if (!this.running) return;
    const next = this.queue.peekKey();
    if (next === undefined) return;
    if (next >= this.timerAt && this.timer) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.max(0, next - this.clock.now().getTime());
    // setTimeout caps at ~24.8 days; the lookahead keeps delays to seconds anyway
    this.timer = setTimeout(() => this.fireDue(), Math.min(delay, 2 ** 31 - 1));
  }

  private fireDue() {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.running) return;
    const now = this.clock.now();
    const due = this.queue.popDue(now.getTime());
    for (const run of due) this.fire(run, now);
    this.metrics.inFlight.set(this.inFlight);
    this.arm();
  }

  private fire(run: ClaimedRun, at: Date) {
    const startedAt = new Date(at.getTime());
    const lagMs = startedAt.getTime() - run.scheduledFor.getTime();
    this.metrics.fireLag.observe(Math.max(0, lagMs) / 1000);
    const late = run.late || lagMs > this.misfireThresholdMs;
    if (run.actionType === 'webhook' && this.webhooks) {
      this.webhooks.deliver(run, startedAt, late, late && !run.reason ? `fired ${Math.round(lagMs / 1000)} s late` : run.reason);
      if (lagMs > this.misfireThresholdMs) this.log.warn({ runId: run.id, lagMs }, 'occurrence fired late');
      return;
    }
    // The `log` action: recording the execution with its exact time is the whole job.
    this.recorder.add({
      id: run.id,
      attempt: run.attempt,
      status: 'succeeded',
      startedAt,
      finishedAt: this.clock.now(),
      late,
      reason: late && !run.reason ? `fired ${Math.round(lagMs / 1000)} s late` : null,
    });
    if (lagMs > this.misfireThresholdMs) this.log.warn({ runId: run.id, lagMs }, 'occurrence fired late');
  }
}
