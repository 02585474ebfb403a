import type { Logger } from 'pino';
import type { Clock, Timer } from '../time/clock.js';
import type { ClaimedRun } from '../store/runs.js';
import type { NoticeListener } from '../store/notices.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from './recorder.js';
import { planFireDue, type FireDecision } from './plan.js';
import type { InFlight, Service } from './service.js';
import { TimerQueue } from './timer-queue.js';

/** A fire this late after its time means the node is short of CPU (see firedLate). */
const LATE_MS = 5;
/** Takes webhook runs at their instant and returns at once (webhooks/deliverer.ts). */
export interface WebhookSink {
  /** the run's start time is taken by the deliverer, when its first request is sent */
  deliver(run: ClaimedRun, late: boolean, lateReason: string | null): void;
  /** a webhook run is held: what its request needs that does not depend on the send instant can be made now */
  prepare?(run: ClaimedRun): void;
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
 * Memory one held run costs beyond its JSON text: the heap entry, the indexes by id and
 * by task, and the in-flight account's entry. Measured with
 * `node --expose-gc --import tsx bench/held-memory.ts 100000 [payloadBytes]`: 439 bytes
 * of heap per held `log` run (199 for those structures, 240 for the run object); a
 * payload adds its own size (a 200-byte one ~220). The estimate below gives 444 and 666.
 * At 1,000 occurrences a second and a 45 s horizon a node holds 45,000 runs: ~20 MB.
 */
export const HELD_RUN_OVERHEAD_BYTES = 200;

/** Approximate bytes one held run occupies (what the claimer's byte cap counts). */
export function heldRunBytes(run: ClaimedRun): number {
  return HELD_RUN_OVERHEAD_BYTES + JSON.stringify(run).length;
}

/**
 * Holds claimed occurrences in memory and fires each at its instant: one timer for
 * the earliest, a heap for the rest, so lag is the timer's precision (~1 ms), not a
 * poll interval. Firing a `log` run is its whole execution: its start time is read
 * from the clock as that run is executed (a large fire takes a while, and that while
 * is lag) and the result goes to the recorder. A webhook run is handed to the
 * deliverer, which takes its start time when its first request is sent; its attempts
 * run on their own, so they never hold up the next occurrence. Nothing here waits on the database, so held runs keep
 * firing while it is away.
 */
export class Executor implements Service {
  // The heap orders held runs by time; byId and byTask say which are still held. A run
  // dropped (cancelled, handed back, lost) leaves the maps at once and its heap entry is
  // skipped when it comes up, so dropping is O(runs dropped), not O(runs held).
  private readonly queue = new TimerQueue<ClaimedRun>();
  private readonly byId = new Map<string, ClaimedRun>();
  private readonly byTask = new Map<string, ClaimedRun[]>();
  private timer?: Timer;
  /** clock time (ms) of the last fire LATE_MS or more after its time */
  private lateAt = -Infinity;
  /** timer wakes that found runs due, and those of them LATE_MS or more after the first one's time */
  private readonly wakes = { wakes: 0, late: 0 };
  private timerAt = Infinity;
  private running = false;
  private unsubscribe?: () => void;
  /** held runs dropped by the last stop (the database still has them pending) */
  unfiredAtStop = 0;

  constructor(private readonly deps: ExecutorDeps) {}

  /** Runs held, not yet fired. */
  get held(): number {
    return this.byId.size;
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
    const unfired = [...this.byId.values()];
    for (const r of unfired) this.drop(r);
    this.queue.drain();
    this.unfiredAtStop = unfired.length;
  }

  private unindex(run: ClaimedRun): void {
    this.byId.delete(run.id);
    const list = this.byTask.get(run.taskId);
    if (!list) return;
    const i = list.indexOf(run);
    if (i >= 0) list.splice(i, 1);
    if (!list.length) this.byTask.delete(run.taskId);
  }

  private drop(run: ClaimedRun): void {
    this.unindex(run);
    this.deps.inFlight.close(run.id);
  }

  /** Drops heap entries of runs no longer held once they outnumber the live ones. */
  private compact(): void {
    if (this.queue.size > 1024 && this.queue.size > 2 * this.byId.size) {
      this.queue.removeWhere((r) => this.byId.get(r.id) !== r);
    }
  }

  /**
   * True when the timer has fired something LATE_MS or more after its time within the
   * last `withinMs`: the node is short of CPU for firing, and the API's bulk writes take
   * turns (api/tasks.ts).
   */
  firedLate(withinMs = 1000): boolean {
    return this.deps.clock.now().getTime() - this.lateAt < withinMs;
  }

  /** Counts since start of the timer's wakes that found runs due, and of the late ones (the API paces bulk writes by them: api/bulk-pace.ts). */
  timerLateness(): { wakes: number; late: number } {
    return { ...this.wakes };
  }

  hold(runs: ClaimedRun[]): void {
    for (const r of runs) {
      if (this.deps.inFlight.has(r.id)) continue; // already ours (held, firing or recording)
      this.deps.inFlight.open(r.id, heldRunBytes(r));
      this.byId.set(r.id, r);
      const list = this.byTask.get(r.taskId);
      if (list) list.push(r);
      else this.byTask.set(r.taskId, [r]);
      this.queue.push(r.scheduledFor.getTime(), r);
      if (r.actionType === 'webhook') this.deps.webhooks?.prepare?.(r);
    }
    this.arm();
  }

  /**
   * A task's claimed occurrences were cancelled: drop what is held for it (its fenced
   * result would be rejected anyway). A deletion cancels manual runs too.
   */
  forgetTask(taskId: string, manualToo = false): number {
    const dropped = [...(this.byTask.get(taskId) ?? [])].filter((r) => manualToo || r.trigger === 'schedule');
    for (const r of dropped) this.drop(r);
    this.compact();
    return dropped.length;
  }

  /** Drops held runs by id (the node learned they are no longer its own). */
  forget(ids: Set<string>): number {
    let n = 0;
    for (const id of ids) {
      const r = this.byId.get(id);
      if (r) (this.drop(r), n++);
    }
    this.compact();
    return n;
  }

  holdsTask(taskId: string): boolean {
    return this.byTask.has(taskId);
  }

  /** Up to `count` held runs due after `afterMs`, latest first (to hand back). */
  latestHeld(count: number, afterMs: number): { id: string; attempt: number }[] {
    return [...this.byId.values()]
      .filter((r) => r.scheduledFor.getTime() > afterMs)
      .sort((a, b) => b.scheduledFor.getTime() - a.scheduledFor.getTime())
      .slice(0, count)
      .map((r) => ({ id: r.id, attempt: r.attempt }));
  }

  /** Held runs' ids and attempts, for checking them against the database. */
  heldRuns(): { id: string; attempt: number }[] {
    return [...this.byId.values()].map((r) => ({ id: r.id, attempt: r.attempt }));
  }

  private arm() {
    if (!this.running) return;
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
    const due = this.queue.popDue(now.getTime()).filter((r) => this.byId.get(r.id) === r);
    // popped in time order: the first is the most overdue
    if (due.length) {
      this.wakes.wakes++;
      if (now.getTime() - due[0]!.scheduledFor.getTime() >= LATE_MS) {
        this.lateAt = now.getTime();
        this.wakes.late++;
      }
    }
    // they leave the held set; their account entries stay open until their results are settled
    for (const r of due) this.unindex(r);
    // decisions for the batch at its instant; each run's own start is read as it is executed
    for (const [run, decision] of planFireDue(due, now, this.deps.misfireThresholdMs)) this.fire(run, decision);
    this.deps.metrics.inFlight.set(this.deps.inFlight.count);
    this.arm();
  }

  private fire(run: ClaimedRun, decision: FireDecision) {
    const { recorder, metrics, log, misfireThresholdMs } = this.deps;
    const startedAt = this.deps.clock.now();
    if (!decision.fire) {
      recorder.add({ id: run.id, attempt: run.attempt, status: 'skipped', startedAt: null, finishedAt: startedAt, late: false, reason: decision.reason });
      return;
    }
    if (decision.lagMs > misfireThresholdMs) log.warn({ runId: run.id, lagMs: decision.lagMs }, 'occurrence fired late');
    if (run.actionType === 'webhook' && this.deps.webhooks) {
      // its lag is observed by the deliverer, when its first request goes out
      this.deps.webhooks.deliver(run, decision.late, decision.reason);
      return;
    }
    // negative lag (a clock ahead of the database's) is recorded as it is, not clamped
    metrics.fireLag.observe((startedAt.getTime() - run.scheduledFor.getTime()) / 1000);
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
