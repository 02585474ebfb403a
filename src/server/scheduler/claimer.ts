import type { Logger } from 'pino';
import type { SchedulerConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Sql, Tx } from '../store/db.js';
import type { NoticeListener } from '../store/notices.js';
import {
  occurrencesClaimableCount, occurrencesClaimDue, occurrencesClaimOfTasks, runsClaimOrphaned, runsPendingOfNode, runsReleaseSome, runsStillOwned, type ClaimedRun,
} from '../store/runs.js';
import type { Clock, Timer } from '../time/clock.js';
import type { Executor } from './executor.js';
import { planClaim } from './plan.js';
import type { InFlight, Service } from './service.js';

/** Work beyond the lookahead is claimed in transactions this many times larger. */
const AHEAD_BATCHES = 5;
/**
 * Runs claimed by creates are checked against the database this long after they are
 * held; one statement covers every create held meanwhile (Claimer.holdCreated).
 */
const CONFIRM_DELAY_MS = 50;
/** The most held runs one confirming statement looks up. */
const CONFIRM_MAX = 5000;

/** What the claimer needs to know of the node's lease and the cluster (heartbeat.ts). */
export interface LeaseView {
  mayRescue(): boolean;
  readonly cluster: { liveNodes: number; othersHeld: number };
}

/** See Claimer.createClaimTerms: plain data, so another thread can claim under them. */
export interface CreateClaimTerms {
  nodeId: string;
  horizonMs: number;
  /** runs this node has room for */
  limit: number;
  misfireThresholdMs: number;
}

export interface ClaimerDeps {
  sql: Sql;
  nodeId: string;
  config: SchedulerConfig;
  clock: Clock;
  executor: Pick<Executor, 'hold' | 'held' | 'forget' | 'holdsTask' | 'latestHeld' | 'heldRuns'>;
  inFlight: InFlight;
  metrics: Metrics;
  log: Logger;
  notices?: NoticeListener;
  lease?: LeaseView;
  onClaimed?: (count: number) => void;
}

/**
 * Finds due work and claims it: every `pollIntervalMs` (jittered), and at once when
 * a notice says something became due soon or was handed back.
 *
 * - Near: everything due within `lookaheadMs` is claimed by whichever node looks
 *   first, so nothing waits on fairness.
 * - Ahead: what is due within `claimAheadMs` is claimed too, so it fires on time
 *   while the database is away; each node claims up to its fair share of the
 *   cluster's held work (live nodes and their holdings come with the heartbeat), and
 *   a node holding well over its share (others joined) hands the latest back.
 * - Caps: never more than `maxInFlight` runs or `maxInFlightBytes` in the in-flight
 *   account (held, firing or being recorded).
 * - Rescue: ownerless runs always; runs of nodes whose lease lapsed only when the
 *   lease view allows (not right after an outage, when every lease lapsed at once).
 * - Reconcile: after a claim failed mid-way (its COMMIT may have landed), a result was
 *   fenced, the lease lapsed or the database came back, the node's own pending runs it
 *   does not hold are adopted, or released when there is no room.
 */
export class Claimer implements Service {
  private timer?: Timer;
  private running = false;
  private loop?: Promise<void>;
  private again = false;
  private backoffMs = 0;
  private reconcileNeeded = false;
  private readonly refresh = new Set<string>();
  private unsubscribe: (() => void)[] = [];
  /** runs held from creates, not yet checked against the database */
  private toConfirm: ClaimedRun[] = [];
  private confirming?: Promise<void>;

  constructor(private readonly deps: ClaimerDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const n = this.deps.notices;
    if (n) {
      this.unsubscribe = [
        n.subscribe('wake', () => this.wake()),
        n.subscribe('task', (notice) => {
          // an edit that left held runs pending may have changed how they fire: re-read them
          if (notice.change === 'updated' && !notice.cancelled && this.deps.executor.holdsTask(notice.id)) {
            this.refresh.add(notice.id);
            this.wake();
          } else if (notice.wake) this.wake();
        }),
      ];
    }
    this.wake();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe.splice(0).forEach((off) => off());
    this.timer?.cancel();
    this.timer = undefined;
    await this.loop;
    await this.confirming;
  }

  /** Claim now (a task became due soon, or runs were handed back). */
  wake(): void {
    if (!this.running) return;
    if (this.loop) {
      this.again = true;
      return;
    }
    this.timer?.cancel();
    this.timer = undefined;
    this.loop = this.round().finally(() => {
      this.loop = undefined;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else {
        // ±20 % jitter: nodes' polls drift apart instead of staying in lock-step, where one
        // node, polling just after another, would find only what became due in between
        const jitter = 0.8 + Math.random() * 0.4;
        this.timer = this.deps.clock.setTimer(() => this.wake(), this.deps.config.pollIntervalMs * jitter + this.backoffMs);
      }
    });
  }

  /** Resolves when the round in progress (if any) and the check of runs held from creates are over. */
  async idle(): Promise<void> {
    while (this.loop || this.confirming) await (this.loop ?? this.confirming);
  }

  /**
   * After this node's lease lapsed, others may have rescued some of what it holds:
   * drop every held run that is no longer its own at the same attempt.
   */
  async dropLost(): Promise<number> {
    const { sql, nodeId, executor, log } = this.deps;
    const held = executor.heldRuns();
    const mine = await runsStillOwned(sql, nodeId, held);
    const lost = new Set(held.filter((r) => !mine.has(r.id)).map((r) => r.id));
    if (lost.size) log.warn({ lost: lost.size }, 'held runs taken over by other nodes while our lease had lapsed: dropped');
    // what the database says is ours may also be more than we hold: look at the next round
    this.requestReconcile();
    return executor.forget(lost);
  }

  /**
   * The node's held set and the database may disagree (a result was fenced, the
   * database came back, the lease lapsed): the next round adopts this node's pending
   * runs it does not hold, or releases them. Otherwise a live node would own runs that
   * nobody fires and that no rescue touches while its lease is valid.
   */
  requestReconcile(): void {
    this.reconcileNeeded = true;
    this.wake();
  }

  /** How far ahead of its time a new task is claimed by the request that creates it. */
  get createHorizonMs(): number {
    return Math.max(this.deps.config.lookaheadMs, this.deps.config.claimAheadMs);
  }

  /**
   * Inside the transaction of a request that created these tasks: claims for this node
   * what of them falls due within the horizon (as far as there is room), so a task
   * created seconds before its time is held from the moment its create commits, not
   * from the next poll (which a database failing over right then would postpone past
   * the time). Pass what it returns to `holdCreated` once the transaction committed,
   * or call `createFailed` if it did not.
   */
  async claimCreated(tx: Tx, taskIds: string[]): Promise<ClaimedRun[]> {
    if (!this.running) return [];
    const now = this.deps.clock.now();
    const limit = Math.min(taskIds.length, this.room());
    return occurrencesClaimOfTasks(tx, {
      nodeId: this.deps.nodeId,
      taskIds,
      horizon: new Date(now.getTime() + this.createHorizonMs),
      limit,
      plan: this.planner(now),
    });
  }

  /**
   * What a claim of created tasks made elsewhere (the batch thread, api/batch-thread.ts)
   * may take for this node now: null while the claimer is stopped.
   */
  createClaimTerms(): CreateClaimTerms | null {
    if (!this.running) return null;
    return {
      nodeId: this.deps.nodeId,
      horizonMs: this.createHorizonMs,
      limit: this.room(),
      misfireThresholdMs: this.deps.config.misfireThresholdMs,
    };
  }

  /**
   * The creating transaction committed: hold what it claimed. A change that cancelled
   * those runs in between (a delete or a new schedule right after the create, committed
   * before the node held them) sent its notice while nothing was held to drop, and the
   * run would fire once for a cancelled task. So the runs are looked up again once
   * held: a change committed before that read is seen in it, one committed after sends
   * its notice to runs already held. The batch path holds in slices, several turns after
   * its commit (api/tasks.ts), so its window was wide enough to hit.
   */
  holdCreated(runs: ClaimedRun[]): void {
    if (!runs.length) return;
    this.deps.executor.hold(runs);
    this.deps.metrics.claimBatch.observe(runs.length);
    this.deps.onClaimed?.(runs.length);
    for (const r of runs) this.toConfirm.push(r);
    this.confirmLater();
  }

  private confirmLater(): void {
    this.confirming ??= this.confirmHeld().finally(() => {
      this.confirming = undefined;
      if (this.toConfirm.length) this.confirmLater();
    });
  }

  /** Drops runs held from creates that the database no longer has pending for this node. */
  private async confirmHeld(): Promise<void> {
    const { sql, nodeId, executor, log } = this.deps;
    // one statement for every create held meanwhile (single creates come one by one)
    await new Promise((r) => setTimeout(r, CONFIRM_DELAY_MS));
    while (this.toConfirm.length) {
      const runs = this.toConfirm.splice(0, CONFIRM_MAX);
      try {
        const mine = await runsStillOwned(sql, nodeId, runs.map((r) => ({ id: r.id, attempt: r.attempt })));
        const gone = executor.forget(new Set(runs.filter((r) => !mine.has(r.id)).map((r) => r.id)));
        if (gone) log.info({ dropped: gone }, 'runs claimed by creates were cancelled before they were held: dropped');
      } catch (err) {
        // the database is away: what was cancelled meanwhile fires and its result is fenced, as before this check
        log.warn({ err, runs: runs.length }, 'could not check runs claimed by creates');
      }
    }
  }

  /**
   * The creating transaction failed after its claim: if its COMMIT landed as the
   * connection broke, this node owns runs it does not hold, which the reconcile adopts.
   */
  createFailed(): void {
    this.requestReconcile();
  }

  private planner(now: Date) {
    const { config, log } = this.deps;
    return (t: Parameters<typeof planClaim>[0]) => {
      const plan = planClaim(t, now, config.misfireThresholdMs);
      if (plan.scheduleError) log.error({ taskId: t.id, err: plan.scheduleError }, 'schedule could not be evaluated; task stopped');
      return plan;
    };
  }

  /** Held runs a node may still take on, by count and by bytes. */
  private room(): number {
    const { config, inFlight } = this.deps;
    const byCount = config.maxInFlight - inFlight.count;
    const perRun = inFlight.count ? inFlight.bytes / inFlight.count : 1024;
    const byBytes = Math.floor((config.maxInFlightBytes - inFlight.bytes) / perRun);
    return Math.max(0, Math.min(byCount, byBytes));
  }

  private async round() {
    try {
      // One "now" for the whole round: every pass of a catch-up measures misfires from the
      // same cutoff, so the occurrence just after a fire_once catch-up cannot fall past a
      // later cutoff and be coalesced into a second late run.
      const now = this.deps.clock.now();
      const { lookaheadMs, claimAheadMs, claimBatchSize } = this.deps.config;
      if (this.reconcileNeeded) await this.reconcile();
      if (this.refresh.size) await this.refreshEdited();
      await this.claimUntil(now, new Date(now.getTime() + lookaheadMs), Infinity, claimBatchSize);
      if (claimAheadMs > lookaheadMs) {
        const ahead = new Date(now.getTime() + claimAheadMs);
        const budget = await this.shareBudget(ahead);
        if (budget > 0) await this.claimUntil(now, ahead, budget, claimBatchSize * AHEAD_BATCHES);
        else if (budget < 0) await this.handBack(-budget);
      }
      this.backoffMs = 0;
    } catch (err) {
      // The claim may have committed while its answer was lost: look for our own runs.
      this.reconcileNeeded = true;
      // Database down or failing over: keep the node up and retry soon; a failed attempt
      // is cheap, and what is due must be claimed as soon as a primary accepts writes.
      this.backoffMs = Math.min(1000, this.backoffMs ? this.backoffMs * 2 : 250);
      this.deps.log.warn({ err: (err as Error).message, retryInMs: this.deps.config.pollIntervalMs + this.backoffMs }, 'claim failed');
    }
  }

  /**
   * How many more runs this node may claim ahead (negative: how many it holds over its
   * share). The share is (what the others hold + what this node holds + tasks due
   * within the horizon not yet claimed) / live nodes.
   */
  private async shareBudget(ahead: Date): Promise<number> {
    const { sql, config, executor, lease } = this.deps;
    const nodes = Math.max(1, lease?.cluster.liveNodes ?? 1);
    const mine = executor.held;
    if (nodes === 1) return config.maxInFlight;
    const unclaimed = await occurrencesClaimableCount(sql, ahead, config.maxInFlight);
    const share = Math.ceil(((lease?.cluster.othersHeld ?? 0) + mine + unclaimed) / nodes);
    // slack against churn: hand back only what is well over the share
    if (mine > share * 1.25 + 2 * config.claimBatchSize) return share - mine;
    return Math.max(0, share - mine);
  }

  private async claimUntil(now: Date, horizon: Date, budget: number, batch: number) {
    const { sql, nodeId, executor, metrics, lease } = this.deps;
    let orphansLeft = true;
    let taken = 0;
    while (this.running) {
      const limit = Math.min(batch, this.room(), budget - taken);
      if (limit <= 0) return;
      // Orphans are rare: look again within a pass only while the last look came back full.
      const orphans: ClaimedRun[] = orphansLeft ? await runsClaimOrphaned(sql, { nodeId, horizon, limit, lapsed: lease?.mayRescue() ?? true }) : [];
      orphansLeft = orphans.length >= limit;
      const claimed = await occurrencesClaimDue(sql, {
        nodeId,
        horizon,
        limit,
        plan: this.planner(now),
      });
      const runs: ClaimedRun[] = [...claimed.claimed, ...orphans];
      if (runs.length) {
        metrics.claimBatch.observe(runs.length);
        executor.hold(runs);
        this.deps.onClaimed?.(runs.length);
      }
      taken += runs.length;
      // Stop when a pass found nothing more to do in this horizon.
      if (claimed.tasks < limit && orphans.length < limit && !claimed.moreDue) return;
    }
  }

  /** Releases the latest-due held runs, for nodes with room in their share. */
  private async handBack(count: number) {
    const { sql, nodeId, executor, log } = this.deps;
    const runs = executor.latestHeld(count, this.deps.clock.now().getTime() + this.deps.config.lookaheadMs);
    const released = await runsReleaseSome(sql, nodeId, runs);
    executor.forget(released);
    if (released.size) log.info({ released: released.size }, 'handed back claim-ahead runs over this node\'s share');
  }

  /** Adopts this node's own pending runs that it does not hold (an ambiguous commit). */
  private async reconcile() {
    const { sql, nodeId, inFlight, executor, log } = this.deps;
    // Runs settled while the query ran were in the account before it: never adopted twice.
    const before = inFlight.ids();
    const mine = await runsPendingOfNode(sql, nodeId);
    const unheld = mine.filter((r) => !before.has(r.id) && !inFlight.has(r.id));
    this.reconcileNeeded = false;
    if (!unheld.length) return;
    const room = this.room();
    const adopt = unheld.slice(0, room);
    const release = unheld.slice(room);
    executor.hold(adopt);
    const released = release.length ? (await runsReleaseSome(sql, nodeId, release)).size : 0;
    log.warn({ adopted: adopt.length, released }, 'found runs this node owned but did not hold: adopted or released');
  }

  /** Re-reads held runs of edited tasks, so they fire as the task is now. */
  private async refreshEdited() {
    const { sql, nodeId, executor } = this.deps;
    const taskIds = [...this.refresh];
    this.refresh.clear();
    try {
      const fresh = await runsPendingOfNode(sql, nodeId, taskIds);
      executor.forget(new Set(fresh.map((r) => r.id)));
      executor.hold(fresh);
    } catch (err) {
      for (const id of taskIds) this.refresh.add(id);
      throw err;
    }
  }
}
