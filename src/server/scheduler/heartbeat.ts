import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { nodeHeartbeat, nodesLeaseGrace } from '../store/nodes.js';
import type { Metrics } from '../metrics.js';
import type { Clock, Timer } from '../time/clock.js';
import type { FiringGate } from './executor.js';
import type { Service } from './service.js';

export interface HeartbeatDeps {
  sql: Sql;
  nodeId: string;
  /** the node's uncorrected clock: offsets are measured against it */
  clock: Clock;
  heartbeatMs: number;
  leaseMs: number;
  metrics: Metrics;
  log: Logger;
  /** occurrences this node holds, reported so claimers can share the claim-ahead work */
  held?: () => number;
  /** called with each new offset estimate (PostgreSQL's clock minus ours, ms) */
  onOffset?: (offsetMs: number) => void;
  /**
   * Called after a beat found the lease lapsed (an outage, or this node froze): others
   * may have rescued some of our runs, so the node checks what it holds against the
   * database. Firing resumes after it resolves if it was held back by a freeze.
   */
  onLeaseLapsed?: () => Promise<void>;
  /** called after the first beat that went through following failed ones */
  onRecovered?: () => void;
}

/** Offset samples kept; the one with the shortest round trip is the estimate. */
const OFFSET_SAMPLES = 8;

/**
 * Renews this node's lease every `heartbeatMs`; the lease is what keeps its claims its
 * own. It also carries three rules about time:
 *
 * - Freeze: a gap between two of its ticks longer than the lease, seen on the
 *   monotonic clock, means this process was stopped (SIGSTOP, a VM pause, a GC
 *   storm). Others were free to rescue its runs meanwhile, so the firing gate stays
 *   closed until a beat has gone through and the held runs were checked.
 * - Rescue grace: after a beat succeeds following failed ones, or more than a lease
 *   after the last one that did (a beat hung on a dead connection: the database was away)
 *   every node's lease may have lapsed at once; that beat renews, in the database, the
 *   leases that were valid when this node lost it (nodesLeaseGrace), and this
 *   node does not take over other nodes' runs until a full lease has passed. Either
 *   way each live node has a full lease from the database's return to check in; only
 *   then is a lapsed lease evidence that its node is gone.
 * - Clock offset: each beat reads the server's clock; PostgreSQL's now() minus ours at
 *   the round trip's midpoint, within half the round trip, is the node's offset.
 */
export class Heartbeat implements Service, FiringGate {
  private timer?: Timer;
  private beat?: Promise<void>;
  private running = false;
  private lastTickMono = 0;
  private frozen = false;
  private gateWaiters: (() => void)[] = [];
  private failing = false;
  private rescueAfterMono = -Infinity;
  private lastOkMono = -Infinity;
  private samples: { offsetMs: number; rttMs: number }[] = [];
  /** the current estimate, stored with the next beat */
  offset?: { offsetMs: number; rttMs: number };
  /** live nodes and what they hold, as of the last beat */
  cluster = { liveNodes: 1, othersHeld: 0 };

  constructor(private readonly deps: HeartbeatDeps) {}

  /** Starts beating; resolves after the first beat (so the clock offset is known before anything fires). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.lastTickMono = this.deps.clock.monotonicMs();
    this.tick();
    await this.beat;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.beat;
    this.gateWaiters.splice(0).forEach((go) => go());
  }

  /** Whether runs of other nodes whose lease lapsed may be taken over now. */
  mayRescue(): boolean {
    const now = this.deps.clock.monotonicMs();
    // a node whose own last beat is older than a lease has been away itself: others'
    // lapsed leases say nothing yet (the recovering beat will start the grace)
    return !this.failing && now >= this.rescueAfterMono && now - this.lastOkMono <= this.deps.leaseMs;
  }

  /** FiringGate: closed while a freeze past the lease has not been confirmed. */
  open(onOpen: () => void): boolean {
    this.noticeFreeze();
    if (!this.frozen) return true;
    this.gateWaiters.push(onOpen);
    this.beatNow();
    return false;
  }

  /** Renews the lease now (after a freeze, or a test's request). */
  beatNow(): Promise<void> {
    this.beat ??= this.renew().finally(() => (this.beat = undefined));
    return this.beat;
  }

  private noticeFreeze(): void {
    const gap = this.deps.clock.monotonicMs() - this.lastTickMono;
    if (gap > this.deps.leaseMs && !this.frozen) {
      this.frozen = true;
      this.deps.log.warn({ stalledMs: Math.round(gap) }, 'this node was frozen past its lease: firing waits until the lease is confirmed');
    }
  }

  private tick(): void {
    if (!this.running) return;
    this.noticeFreeze();
    this.lastTickMono = this.deps.clock.monotonicMs();
    void this.beatNow();
    this.timer = this.deps.clock.setTimer(() => this.tick(), this.deps.heartbeatMs);
  }

  private async renew(): Promise<void> {
    const { sql, nodeId, clock, leaseMs, log } = this.deps;
    const confirming = this.frozen;
    const t0 = clock.monotonicMs();
    const wall0 = clock.now().getTime();
    try {
      const held = this.deps.held?.() ?? 0;
      const beat = await nodeHeartbeat(sql, nodeId, leaseMs, this.offset, held);
      // Away: beats failed, or one hung on a dead connection for longer than a lease
      // (no error, just no answer until the pool reconnected).
      const doneMono = clock.monotonicMs();
      const awayMs = doneMono - this.lastOkMono;
      const recovered = this.failing || (Number.isFinite(awayMs) && awayMs > leaseMs);
      this.lastOkMono = doneMono;
      const rttMs = clock.monotonicMs() - t0;
      this.cluster = { liveNodes: beat.liveNodes, othersHeld: beat.clusterHeld - held };
      this.measure(beat.serverNow.getTime() - (wall0 + rttMs / 2), rttMs);
      if (recovered) {
        this.failing = false;
        this.rescueAfterMono = clock.monotonicMs() + leaseMs;
        const renewed = await nodesLeaseGrace(sql, nodeId, leaseMs, Number.isFinite(awayMs) ? awayMs : leaseMs);
        log.info({ graceMs: leaseMs, awayMs: Math.round(awayMs), renewed }, 'database reachable again: rescuing other nodes\' runs waits one lease for them to check in');
        this.deps.onRecovered?.();
      }
      if (!beat.wasValid) {
        log.warn('lease had lapsed: checking which held runs are still ours');
        await this.deps.onLeaseLapsed?.();
      }
      // only a beat sent after the freeze was noticed confirms the lease
      if (confirming && this.frozen) {
        this.frozen = false;
        log.info('lease confirmed after a freeze: firing resumes');
        this.gateWaiters.splice(0).forEach((go) => go());
      }
    } catch (err) {
      this.failing = true;
      log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private measure(offsetMs: number, rttMs: number): void {
    this.samples.push({ offsetMs, rttMs });
    if (this.samples.length > OFFSET_SAMPLES) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rttMs < a.rttMs ? b : a));
    this.offset = { offsetMs: Math.round(best.offsetMs * 10) / 10, rttMs: Math.round(best.rttMs * 10) / 10 };
    this.deps.metrics.clockOffset.set(this.offset.offsetMs / 1000);
    this.deps.metrics.clockUncertainty.set(this.offset.rttMs / 2000);
    this.deps.onOffset?.(this.offset.offsetMs);
  }
}
