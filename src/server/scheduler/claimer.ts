import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import type { Sql } from '../store/db.js';
import { occurrencesClaimDue, runsClaimOrphaned, type ClaimedRun } from '../store/runs.js';
import type { SchedulerConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Executor } from './executor.js';
import type { Recorder } from './recorder.js';
import { tasksDueBacklog } from '../store/tasks.js';
import { planClaim } from './plan.js';

/** A burst is "more due within the prefetch window than this many claim batches". */
const BURST_BATCHES = 5;

/**
 * Finds due work and claims it: every `pollIntervalMs`, and at once when a NOTIFY
 * says something became due soon. Claims everything due within the lookahead, batch
 * after batch, up to `maxInFlight` held occurrences (back-pressure: a node never
 * claims more than it can fire before its lease matters).
 */
export class Claimer {
  private timer?: NodeJS.Timeout;
  private running = false;
  private loop?: Promise<void>;
  private again = false;
  private backoffMs = 0;

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly cfg: SchedulerConfig,
    private readonly clock: Clock,
    private readonly executor: Executor,
    private readonly recorder: Recorder,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onClaimed: (count: number) => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.loop;
  }

  /** Claim now (a task became due soon, or runs were handed back). */
  wake(): void {
    if (!this.running) return;
    if (this.loop) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else {
        // ±20 % jitter: nodes' polls drift apart instead of staying in lock-step, where one
        // node, polling just after another, would find only what became due in between
        const jitter = 0.8 + Math.random() * 0.4;
        this.timer = setTimeout(() => this.wake(), this.cfg.pollIntervalMs * jitter + this.backoffMs);
      }
    });
  }

  /**
   * How far ahead to claim on this pass. Normally the lookahead (a second or two). When
   * a burst is coming — more occurrences due within `burstPrefetchMs` than a few claim
   * batches — claiming starts early instead: everyone's 9:00 reminder is claimed in
   * the seconds before 9:00 and fired from memory at 9:00, rather than claimed after
   * it at the database's pace. One capped count on the partial due index per pass.
   */
  private async aheadMs(now: Date): Promise<number> {
    const { lookaheadMs, burstPrefetchMs, claimBatchSize } = this.cfg;
    if (burstPrefetchMs <= lookaheadMs) return lookaheadMs;
    const threshold = claimBatchSize * BURST_BATCHES;
    const soon = await tasksDueBacklog(this.sql, new Date(now.getTime() + burstPrefetchMs), threshold);
    return soon >= threshold ? burstPrefetchMs : lookaheadMs;
  }

  private async run() {
    try {
      // One "now" for the whole round: every pass of a catch-up measures misfires from the
      // same cutoff. Re-reading the clock per pass let the occurrence just after a
      // fire_once catch-up fall past a later cutoff and be coalesced into a second late run.
      const now = this.clock.now();
      const ahead = await this.aheadMs(now);
      // In a burst, bigger transactions: the per-row work is the same, the round trips
      // and commits per occurrence are a fifth.
      const batch = ahead > this.cfg.lookaheadMs ? this.cfg.claimBatchSize * BURST_BATCHES : this.cfg.claimBatchSize;
      let orphansLeft = true;
      while (this.running) {
        const room = this.cfg.maxInFlight - this.executor.inFlight;
        if (room <= 0) return;
        const limit = Math.min(batch, room);
        const horizon = new Date(now.getTime() + ahead);
        // Orphans are rare: look again within a pass only while the last look came back full.
        const orphans: Awaited<ReturnType<typeof runsClaimOrphaned>> = orphansLeft
          ? await runsClaimOrphaned(this.sql, { nodeId: this.nodeId, horizon, limit })
          : [];
        orphansLeft = orphans.length >= limit;
        const claimed = await occurrencesClaimDue(this.sql, {
          nodeId: this.nodeId,
          horizon,
          limit,
          plan: (t) => {
            try {
              return planClaim(t, now, this.cfg.misfireThresholdMs);
            } catch (err) {
              // A stored schedule that no longer evaluates must not wedge the whole batch.
              this.log.error({ taskId: t.id, err }, 'schedule could not be evaluated; task stopped');
              return {
                runs: [{ scheduledFor: t.nextRunAt!, status: 'skipped', late: false, reason: `schedule error: ${(err as Error).message}` }],
                nextRunAt: null,
                state: 'completed',
              };
            }
          },
        });
        const runs: ClaimedRun[] = claimed.claimed;
        for (const o of orphans) {
          const misfired = now.getTime() - o.scheduledFor.getTime() > this.cfg.misfireThresholdMs;
          if (misfired && o.kind === 'cron' && o.misfirePolicy === 'skip' && o.trigger === 'schedule') {
            this.recorder.add({
              id: o.id, attempt: o.attempt, status: 'skipped', startedAt: null, finishedAt: now, late: false,
              reason: 'misfired: skipped by policy (its node was lost)',
            });
          } else runs.push(o);
        }
        if (runs.length) {
          this.metrics.claimBatch.observe(runs.length);
          this.executor.hold(runs);
          this.onClaimed(runs.length);
        }
        this.backoffMs = 0;
        // Stop when a pass found nothing more to do in this horizon.
        if (claimed.tasks < limit && orphans.length < limit && !claimed.moreDue) return;
      }
    } catch (err) {
      // Database down or failing over: keep the node up, retry with backoff.
      // Short: whatever fell due during an outage must fire soon after the database is
      // back (a 5 s cap pushed it ~5.5 s past the recovery). A failed attempt is cheap.
      this.backoffMs = Math.min(1000, this.backoffMs ? this.backoffMs * 2 : 250);
      this.log.warn({ err: (err as Error).message, retryInMs: this.cfg.pollIntervalMs + this.backoffMs }, 'claim failed');
    }
  }
}
