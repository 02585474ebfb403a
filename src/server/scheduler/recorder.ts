import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { runsComplete, type RunResult } from '../store/runs.js';
import type { Metrics } from '../metrics.js';
import type { Clock, Timer } from '../time/clock.js';
import type { InFlight, Service } from './service.js';

const MAX_BATCH = 2000;
const MAX_CONCURRENT = 3;
const RETRY_MS = 500;
const FLUSH_MS = 25;
/** while `holdWhile` says so, results wait up to this long (the oldest queued) before being written */
const MAX_HOLD_MS = 5000;
const HOLD_CHECK_MS = 50;

export interface RecorderDeps {
  sql: Sql;
  nodeId: string;
  clock: Clock;
  inFlight: InFlight;
  metrics: Metrics;
  log: Logger;
  /** how long stop() keeps trying to write what is queued before leaving it to the rescue */
  drainMs: number;
  onRecorded?: (count: number) => void;
  /** results the fence rejected: the node's view of what it owns may be stale */
  onFenced?: (count: number) => void;
  /**
   * True while the node is busy sending (webhooks waiting for a connection slot): writes
   * wait, up to MAX_HOLD_MS for the oldest result, so a burst's requests do not share
   * the CPU with recording its first results. What the run log shows lags by that much.
   */
  holdWhile?: () => boolean;
}

/**
 * Writes run results in batches. Firing never waits on the database: results queue
 * here, and up to MAX_CONCURRENT statements of up to MAX_BATCH rows are in flight.
 * While the database is unreachable (an outage, a failover) results stay queued and
 * are retried every RETRY_MS; the fence in runsComplete decides whether they still
 * count once a primary accepts writes. The queue is bounded by what the claimer may
 * hold (every queued result is an open entry of the in-flight account). A result
 * leaves the account once its write has been answered, accepted or fenced.
 */
export class Recorder implements Service {
  private queue: RunResult[] = [];
  private active = 0;
  private flushTimer?: Timer;
  private retryTimer?: Timer;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  /** clock time (ms) the oldest result still queued arrived, at the latest */
  private oldestAt = 0;

  constructor(private readonly deps: RecorderDeps) {}

  get pending(): number {
    return this.queue.length;
  }

  start(): void {
    this.stopped = false;
  }

  add(result: RunResult): void {
    if (!this.queue.length) this.oldestAt = this.deps.clock.now().getTime();
    this.queue.push(result);
    this.schedule();
  }

  /** Resolves when everything queued so far has been written. */
  async flushed(): Promise<void> {
    if (!this.queue.length && !this.active) return;
    this.schedule();
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /**
   * Writes what is queued, for at most `drainMs`; what is still unwritten then stays
   * pending in the database under this node, and is rescued after its lease lapses.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    let deadline: Timer | undefined;
    const gaveUp = await Promise.race([
      this.flushed().then(() => false),
      new Promise<boolean>((r) => (deadline = this.deps.clock.setTimer(() => r(true), this.deps.drainMs))),
    ]);
    deadline?.cancel();
    this.stopped = true;
    this.flushTimer?.cancel();
    this.retryTimer?.cancel();
    this.flushTimer = this.retryTimer = undefined;
    if (gaveUp && this.queue.length) {
      this.deps.log.warn({ unwritten: this.queue.length }, 'results not written before stop; those runs will be rescued');
    }
    for (const r of this.queue.splice(0)) this.deps.inFlight.close(r.id);
    this.idleWaiters.splice(0).forEach((r) => r());
  }

  private schedule() {
    if (this.stopped || this.flushTimer || this.retryTimer) return;
    // Results wait up to FLUSH_MS to share a statement. The run's start time is already
    // stamped, so this costs no lag; without it a steady 1,000 occurrences a second,
    // each due in its own tick, became 1,000 transactions (and NOTIFYs) a second.
    this.flushTimer = this.deps.clock.setTimer(() => {
      this.flushTimer = undefined;
      if (this.holding()) return this.hold();
      this.pump();
    }, this.queue.length >= MAX_BATCH ? 0 : FLUSH_MS);
  }

  /** The node is busy sending and nothing queued has waited MAX_HOLD_MS yet (flushed() and stop() do not wait). */
  private holding(): boolean {
    if (this.idleWaiters.length || !this.deps.holdWhile?.()) return false;
    return this.deps.clock.now().getTime() - this.oldestAt < MAX_HOLD_MS;
  }

  private hold() {
    if (this.stopped || this.flushTimer || this.retryTimer) return;
    this.flushTimer = this.deps.clock.setTimer(() => {
      this.flushTimer = undefined;
      if (this.holding()) return this.hold();
      this.pump();
    }, HOLD_CHECK_MS);
  }

  private pump() {
    while (!this.stopped && this.queue.length && this.active < MAX_CONCURRENT) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.active++;
      void this.write(batch).finally(() => {
        this.active--;
        // more queued meanwhile: give it the same chance to fill a batch
        if (this.queue.length) this.schedule();
        else if (!this.active) this.idleWaiters.splice(0).forEach((r) => r());
      });
    }
  }

  private async write(batch: RunResult[]) {
    const { sql, nodeId, metrics, log, inFlight } = this.deps;
    try {
      const accepted = new Set(await runsComplete(sql, nodeId, batch));
      metrics.recordBatch.observe(batch.length);
      // counted per status per batch: one label lookup each, not one per run
      const byStatus = new Map<string, number>();
      let fenced = 0;
      for (const r of batch) {
        if (accepted.has(r.id)) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
        else fenced++;
        inFlight.close(r.id);
      }
      for (const [status, n] of byStatus) metrics.runs.inc({ status }, n);
      if (fenced) metrics.fenced.inc(fenced);
      this.deps.onRecorded?.(accepted.size);
      if (accepted.size < batch.length) this.deps.onFenced?.(batch.length - accepted.size);
    } catch (err) {
      log.warn({ err: (err as Error).message, batch: batch.length }, 'recording results failed; will retry');
      this.queue.unshift(...batch);
      if (this.stopped || this.retryTimer) return;
      this.flushTimer?.cancel();
      this.flushTimer = undefined;
      this.retryTimer = this.deps.clock.setTimer(() => {
        this.retryTimer = undefined;
        this.pump();
      }, RETRY_MS);
    }
  }
}
