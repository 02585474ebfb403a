import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import type { ClaimedRun, TaskDelivery } from '../store/runs.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from './recorder.js';
import { TimerQueue } from './timer-queue.js';

/** Takes webhook runs at their instant and returns at once (webhooks/deliverer.ts). */
export interface WebhookSink {
  /** the run's start time is taken when its first request is sent */
  deliver(run: ClaimedRun, late: boolean, lateReason: string | null): void;
  /** a task's held occurrences not yet sent take its edited action and payload */
  taskEdited(taskId: string, now: TaskDelivery): void;
  /** what counts against the claim budget: per origin, capped (a backed-up origin does not stop claiming) */
  readonly pressure: number;
}

/** Reads a task's delivery fields as they are now (store/runs.ts taskDeliveryGet). */
export type TaskDeliveryRead = (taskId: string) => Promise<(TaskDelivery & { actionType: ClaimedRun['actionType'] }) | undefined>;

const REFRESH_RETRY_MS = [100, 250, 500, 1000];

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
  /** tasks being re-read after an edit: their due runs wait here for the fresh action */
  private readonly refreshing = new Map<string, ClaimedRun[]>();

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
    return this.queue.size + this.recorder.pending + (this.webhooks?.pressure ?? 0);
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

  /**
   * A task was edited and its held occurrences kept (a new URL, body or payload): re-read
   * it and update what is held, so none goes out as it was. Runs falling due while the
   * read is under way wait for it.
   */
  async taskEdited(taskId: string, read: TaskDeliveryRead): Promise<void> {
    if (this.refreshing.has(taskId)) return;
    this.refreshing.set(taskId, []);
    let fresh: Awaited<ReturnType<TaskDeliveryRead>>;
    for (let i = 0; ; i++) {
      try {
        fresh = await read(taskId);
        break;
      } catch (err) {
        if (i >= REFRESH_RETRY_MS.length || !this.running) {
          this.log.warn({ taskId, err: (err as Error).message }, 'could not re-read an edited task; its held occurrences fire as claimed');
          break;
        }
        await new Promise((r) => setTimeout(r, REFRESH_RETRY_MS[i]));
      }
    }
    const waiting = this.refreshing.get(taskId) ?? [];
    this.refreshing.delete(taskId);
    if (fresh) {
      const { actionType, ...delivery } = fresh;
      const update = (r: ClaimedRun) => {
        if (r.taskId !== taskId || r.retryOf) return;
        Object.assign(r, delivery, { actionType });
      };
      this.queue.forEach(update);
      waiting.forEach(update);
      this.webhooks?.taskEdited(taskId, delivery);
    }
    if (!this.running) return;
    const now = this.clock.now();
    for (const r of waiting) this.fire(r, now);
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
    const due = this.queue.popDue(this.clock.now().getTime());
    for (const run of due) {
      const waiting = this.refreshing.get(run.taskId);
      if (waiting && !run.retryOf) waiting.push(run);
      // each run's own start: the loop over a large fire takes time, and that time is lag
      else this.fire(run, this.clock.now());
    }
    this.metrics.inFlight.set(this.inFlight);
    this.arm();
  }

  private fire(run: ClaimedRun, at: Date) {
    const startedAt = new Date(at.getTime());
    const lagMs = startedAt.getTime() - run.scheduledFor.getTime();
    const late = run.late || lagMs > this.misfireThresholdMs;
    if (run.actionType === 'webhook' && this.webhooks) {
      // its lag is observed by the deliverer, when the request goes out
      this.webhooks.deliver(run, late, late && !run.reason ? `fired ${Math.round(lagMs / 1000)} s late` : run.reason);
      if (lagMs > this.misfireThresholdMs) this.log.warn({ runId: run.id, lagMs }, 'occurrence fired late');
      return;
    }
    if (run.maxLatenessMs !== null && run.maxLatenessMs !== undefined && run.trigger === 'schedule' && !run.retryOf && lagMs > run.maxLatenessMs) {
      this.recorder.add({
        id: run.id, attempt: run.attempt, status: 'skipped', startedAt: null, finishedAt: this.clock.now(), late: false,
        reason: `expired: it would have started ${lagMs} ms after its time (maxLatenessMs ${run.maxLatenessMs})`,
      });
      return;
    }
    this.metrics.fireLag.observe(Math.max(0, lagMs) / 1000);
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
