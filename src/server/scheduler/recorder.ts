import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { runsComplete, type RunResult } from '../store/runs.js';
import type { Metrics } from '../metrics.js';

const MAX_BATCH = 2000;
const MAX_CONCURRENT = 3;
const RETRY_MS = 500;
const FLUSH_MS = 25;

/**
 * Writes run results in batches. Firing never waits on the database: results queue
 * here, and up to MAX_CONCURRENT statements of up to MAX_BATCH rows are in flight.
 * If the database is unreachable the results wait and are retried; the fence in
 * runsComplete decides whether they still count.
 */
export class Recorder {
  private queue: RunResult[] = [];
  private active = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onRecorded: (count: number) => void,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  add(result: RunResult): void {
    this.queue.push(result);
    this.schedule();
  }

  /** Resolves when everything queued so far has been written (or given up on stop). */
  async flushed(): Promise<void> {
    if (!this.queue.length && !this.active) return;
    this.schedule();
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    clearTimeout(this.retryTimer);
  }

  private schedule() {
    if (this.scheduled || this.retryTimer) return;
    this.scheduled = true;
    // Results wait up to FLUSH_MS to share a statement. The run's start time is already
    // stamped, so this costs no lag; without it a steady 1,000 occurrences a second,
    // each due in its own tick, became 1,000 transactions (and NOTIFYs) a second.
    setTimeout(() => {
      this.scheduled = false;
      this.pump();
    }, this.queue.length >= MAX_BATCH ? 0 : FLUSH_MS);
  }

  private pump() {
    while (this.queue.length && this.active < MAX_CONCURRENT) {
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
    try {
      const accepted = new Set(await runsComplete(this.sql, this.nodeId, batch));
      this.metrics.recordBatch.observe(batch.length);
      for (const r of batch) {
        if (accepted.has(r.id)) this.metrics.runs.inc({ status: r.status });
        else this.metrics.fenced.inc();
      }
      this.onRecorded(accepted.size);
    } catch (err) {
      this.log.warn({ err, batch: batch.length }, 'recording results failed; will retry');
      this.queue.unshift(...batch);
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }
}
