// Delivers webhook runs. The executor hands a run over at its instant and moves on:
// each delivery is its own async chain (start → attempt → wait → attempt … → result),
// so a slow or failing receiver delays nobody else. Timers, not loops, hold retries.
//
//   fire ─► runsStartWebhook (fenced; overlap check) ─► running ─► attempt 1
//             │ skipped / not ours: done                              │
//             ▼                                                       ▼
//        attempt n ok ─► recorder: succeeded       network error, timeout, 408, 429, 5xx
//        attempt n refused (4xx, SSRF, redirects) ─► recorder: failed         │
//        attempts used up ─► recorder: failed  ◄── wait base·2^(n-1), jittered ┘
//
// The final result goes through the recorder's fenced, batched write like every
// other run; attempts in between are saved so the run log shows them while retrying.
// Delivery is at least once: a node that dies mid-attempt leaves the run `running`,
// and the node that rescues it sends again with the same Idempotency-Key.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Delivery, WebhookAction } from '../../shared/schemas.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from '../scheduler/recorder.js';
import type { Sql } from '../store/db.js';
import { runsDeliveriesSave, runsReleaseDeliveries, runsStartWebhook, type ClaimedRun } from '../store/runs.js';
import type { Clock } from '../time/clock.js';
import type { InFlight, Service } from '../scheduler/service.js';
import { sendWebhook, type AttemptOutcome, type OutgoingRequest, type SendOptions } from './http.js';
import { buildRequest } from './request.js';
import type { AllowList } from './ssrf.js';

export interface DelivererSettings {
  secrets: readonly string[];
  allow: AllowList;
  retryBaseMs: number;
  retryMaxMs: number;
  /** HTTP attempts in flight at once on this node */
  concurrency: number;
  userAgent: string;
  /** the node's in-flight account: a run leaves it here unless its result goes to the recorder */
  inFlight?: InFlight;
}

interface Chain {
  run: ClaimedRun;
  startedAt: Date;
  late: boolean;
  lateReason: string | null;
  action?: WebhookAction;
  taskName?: string;
  payload?: unknown;
  deliveries: Delivery[];
  /** attempts this owner may still make */
  budget: number;
  /** set once the run is `running` under this node */
  started: boolean;
  timer?: NodeJS.Timeout;
  sending?: Promise<void>;
}

/** Exponential backoff with "equal jitter": between half and all of base·2^(n-1), capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

const START_RETRY_MS = [250, 500, 1000, 2000, 5000];

export class WebhookDeliverer implements Service {
  private readonly chains = new Map<string, Chain>();
  private readonly stopSignal = new AbortController();
  private running = false;
  /** runs handed back by the last stop, for another node to continue */
  handedBack = 0;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly clock: Clock,
    private readonly recorder: Recorder,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly settings: DelivererSettings,
    private readonly send: (req: OutgoingRequest, opts: SendOptions) => Promise<AttemptOutcome> = sendWebhook,
  ) {}

  /** Webhook runs this node is working on (starting, sending or waiting to retry). */
  get active(): number {
    return this.chains.size;
  }

  start(): void {
    this.running = true;
  }

  /** The run's life on this node ends here without a result for the recorder. */
  private drop(runId: string): void {
    this.chains.delete(runId);
    this.settings.inFlight?.close(runId);
  }

  /** Called by the executor at the run's instant; returns at once. */
  deliver(run: ClaimedRun, startedAt: Date, late: boolean, lateReason: string | null): void {
    if (this.chains.has(run.id)) return;
    if (!this.running) return this.settings.inFlight?.close(run.id);
    const chain: Chain = { run, startedAt, late, lateReason, deliveries: [], budget: 0, started: false };
    this.chains.set(run.id, chain);
    void this.begin(chain).catch((err) => {
      this.log.error({ err, runId: run.id }, 'webhook delivery failed unexpectedly');
      this.drop(run.id);
    });
  }

  private async begin(c: Chain): Promise<void> {
    let start;
    for (let i = 0; ; i++) {
      if (!this.running) return void this.drop(c.run.id);
      try {
        start = await runsStartWebhook(this.sql, { id: c.run.id, attempt: c.run.attempt, nodeId: this.nodeId, taskId: c.run.taskId, startedAt: c.startedAt });
        break;
      } catch (err) {
        // The database is unreachable: the run stays ours (pending) while our lease lasts.
        this.log.warn({ err: (err as Error).message, runId: c.run.id }, 'could not start webhook run; retrying');
        await this.sleep(START_RETRY_MS[Math.min(i, START_RETRY_MS.length - 1)]!);
      }
    }
    if (!start) {
      // edited, paused, deleted or taken over since the claim: not ours to send
      this.metrics.fenced.inc();
      return void this.drop(c.run.id);
    }
    if (start.status === 'skipped') {
      this.metrics.runs.inc({ status: 'skipped' });
      return void this.drop(c.run.id);
    }
    c.started = true;
    if (start.action.type !== 'webhook') {
      // the task became a `log` task after this occurrence was claimed
      return this.finish(c, 'succeeded', c.lateReason);
    }
    c.action = start.action;
    c.taskName = start.taskName;
    c.payload = start.payload;
    c.deliveries = start.deliveries ?? [];
    const maxAttempts = c.action.maxAttempts ?? 3;
    // a rescued run continues the count of its earlier owner, with at least one more try
    c.budget = Math.max(1, maxAttempts - c.deliveries.length);
    this.attempt(c);
  }

  private attempt(c: Chain): void {
    c.timer = undefined;
    if (!this.running) return;
    c.sending = this.attemptNow(c).catch((err) => {
      this.log.error({ err, runId: c.run.id }, 'webhook attempt failed unexpectedly');
      this.finish(c, 'failed', `internal error: ${(err as Error).message}`);
    });
  }

  private async attemptNow(c: Chain): Promise<void> {
    await this.acquire();
    if (!this.running) return this.release();
    const action = c.action!;
    const n = c.deliveries.length + 1;
    const at = this.clock.now();
    const t0 = performance.now();
    let outcome: AttemptOutcome;
    try {
      const req = buildRequest(
        action,
        { taskId: c.run.taskId, taskName: c.taskName!, scheduledFor: c.run.scheduledFor, runId: String(c.run.id), attempt: n, trigger: c.run.trigger, payload: c.payload },
        { secrets: this.settings.secrets, nowSec: Math.floor(at.getTime() / 1000), userAgent: this.settings.userAgent },
      );
      outcome = await this.send(req, { timeoutMs: action.timeoutMs ?? 10_000, allow: this.settings.allow, signal: this.stopSignal.signal });
    } finally {
      this.release();
    }
    if (outcome.aborted) return; // stopping: stop() hands the run back
    const entry: Delivery = {
      n,
      startedAt: at.toISOString(),
      durationMs: Math.round(performance.now() - t0),
      nodeId: this.nodeId,
      ...(outcome.finalUrl ? { url: outcome.finalUrl } : {}),
      ...(outcome.statusCode !== undefined ? { statusCode: outcome.statusCode } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.response ? { response: outcome.response } : {}),
      ...(outcome.truncated ? { truncated: true } : {}),
    };
    c.deliveries.push(entry);
    c.budget--;
    this.metrics.webhookAttempts.inc({ outcome: outcome.ok ? 'ok' : outcome.retryable ? 'retryable' : 'refused' });
    this.metrics.webhookDuration.observe(entry.durationMs / 1000);

    const what = outcome.statusCode !== undefined ? `HTTP ${outcome.statusCode}` : outcome.error!;
    const prefix = c.lateReason ? `${c.lateReason}; ` : '';
    if (outcome.ok) {
      return this.finish(c, 'succeeded', `${prefix}${what}${n > 1 ? ` on attempt ${n}` : ''}`);
    }
    if (!outcome.retryable) return this.finish(c, 'failed', `${prefix}${what}${outcome.statusCode !== undefined && outcome.error ? `: ${outcome.error}` : ''} (not retried)`);
    if (c.budget <= 0) return this.finish(c, 'failed', `${prefix}gave up after ${n} attempt${n > 1 ? 's' : ''}: ${what}`);

    if (!this.running) return; // stopping: stop() hands the run back with this attempt
    const failures = c.deliveries.filter((d) => d.nodeId === this.nodeId).length;
    const wait = Math.min(this.settings.retryMaxMs, Math.max(backoffMs(failures, this.settings.retryBaseMs, this.settings.retryMaxMs), outcome.retryAfterMs ?? 0));
    // Show the attempt in the run log while waiting, and check the run is still ours: if
    // our lease lapsed (a freeze) and another node took the run over, it sends from now on.
    let ours = true;
    try {
      ours = await runsDeliveriesSave(this.sql, { id: c.run.id, attempt: c.run.attempt, nodeId: this.nodeId, deliveries: c.deliveries });
    } catch (err) {
      // database unreachable: keep retrying; the final write is fenced anyway
      this.log.warn({ err: (err as Error).message, runId: c.run.id }, 'could not save webhook attempt');
    }
    if (!ours) {
      this.metrics.fenced.inc();
      this.log.warn({ runId: c.run.id }, 'webhook run was taken over by another node; no more attempts from here');
      return void this.drop(c.run.id);
    }
    if (!this.running) return;
    c.timer = setTimeout(() => this.attempt(c), Math.max(0, wait - (performance.now() - t0 - entry.durationMs)));
  }

  private finish(c: Chain, status: 'succeeded' | 'failed', reason: string | null): void {
    if (!this.chains.delete(c.run.id)) return;
    clearTimeout(c.timer);
    this.recorder.add({
      id: c.run.id,
      attempt: c.run.attempt,
      status,
      startedAt: c.startedAt,
      finishedAt: this.clock.now(),
      late: c.late,
      reason,
      deliveries: c.deliveries,
    });
  }

  private acquire(): Promise<void> {
    if (this.inFlight < this.settings.concurrency) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => (this.inFlight++, resolve())));
  }

  private release(): void {
    this.inFlight--;
    this.waiting.shift()?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.stopSignal.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }

  /**
   * Stops: no new attempts; attempts in flight get `graceMs` to finish (their result is
   * recorded), then are abandoned. Runs still unfinished are handed back with their
   * attempts so far, for another node to continue.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const c of this.chains.values()) clearTimeout(c.timer);
    const sending = [...this.chains.values()].map((c) => c.sending).filter(Boolean);
    if (sending.length) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(sending), new Promise((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
    }
    this.stopSignal.abort();
    this.waiting.splice(0).forEach((go) => go());
    for (const c of this.chains.values()) clearTimeout(c.timer);
    const handBack = [...this.chains.values()].filter((c) => c.started).map((c) => ({ id: c.run.id, attempt: c.run.attempt, deliveries: c.deliveries }));
    for (const id of [...this.chains.keys()]) this.drop(id);
    if (!handBack.length) return;
    this.handedBack = await runsReleaseDeliveries(this.sql, this.nodeId, handBack).catch((err) => {
      this.log.warn({ err: (err as Error).message }, 'could not hand back webhook runs; they will be rescued when the lease lapses');
      return 0;
    });
  }
}
