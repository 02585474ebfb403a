// Delivers webhook runs. The executor hands a run over at its instant and moves on:
// each delivery is its own chain (queued → attempt → wait → attempt … → result), so a
// slow or failing receiver delays nobody else. Timers, not loops, hold retries.
//
//   fire ─► origin queue (dispatcher: per-origin cap, fair turns, rate limit, circuit)
//             │ circuit open: deferred (recorded, not an attempt) ─► queue again later
//             ▼
//           attempt n (its deadline starts as it is sent; the first send stamps startedAt
//             │         and marks the run `running` in a batched, fenced write)
//             ├─ 2xx ─► recorder: succeeded
//             ├─ refused (4xx, SSRF, redirects) ─► recorder: failed
//             └─ network error, timeout, 408, 429, 5xx ─► attempts left? wait
//                base·2^(n-1) jittered (the attempt saved in the same batched write) ─► attempt n+1
//
// Nothing between the instant and the first request touches the database: the claim
// carried the task's action, payload and name. The one exception is overlap policy
// `skip`, whose "is a run still in progress?" check is a fenced round trip first.
// So held webhooks still go out while the database is unreachable; their results wait
// in the recorder, whose fence decides whether they count.
//
// Delivery is at least once: a node that dies mid-attempt leaves the run open, and the
// node that rescues it sends again with the same Idempotency-Key.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Delivery, WebhookAction } from '../../shared/schemas.js';
import type { Metrics } from '../metrics.js';
import type { Recorder } from '../scheduler/recorder.js';
import type { Sql } from '../store/db.js';
import { runsProgressSave, runsReleaseDeliveries, runsStartWebhook, taskDeliveryGet, type ClaimedRun, type RunProgress, type TaskDelivery } from '../store/runs.js';
import type { NoticeListener } from '../store/notices.js';
import { nodeTargetsSave } from '../store/targets.js';
import type { Clock, Timer } from '../time/clock.js';
import { TimerQueue } from '../scheduler/timer-queue.js';
import type { InFlight, Service } from '../scheduler/service.js';
import { expiredReason, lateBeyondLimit } from '../scheduler/plan.js';
import { Dispatcher, type CircuitState, type Job, type OriginSnapshot } from './dispatcher.js';
import { sendWebhook, Transport, type AttemptOutcome, type OutgoingRequest, type SendOptions } from './http.js';
import { prepareRequest, requestOf, signAhead, type PreparedRequest } from './request.js';
import type { AllowList } from './ssrf.js';

export interface DelivererSettings {
  secrets: readonly string[];
  allow: AllowList;
  retryBaseMs: number;
  retryMaxMs: number;
  /** HTTP attempts in flight at once on this node, all origins together */
  concurrency: number;
  /** HTTP attempts in flight at once to one origin */
  perOrigin?: number;
  /** requests a second, by origin (scheme://host:port) */
  rateLimits?: ReadonlyMap<string, number>;
  /** unreachable attempts in a row that open an origin's circuit */
  circuitTripAfter?: number;
  circuitOpenMs?: number;
  /** a run waiting on an open circuit longer than this fails */
  circuitMaxWaitMs?: number;
  userAgent: string;
  /** the node's in-flight account: a run leaves it here unless its result goes to the recorder */
  inFlight?: InFlight;
  /** task edits: runs queued and not yet sent take the task as it is now */
  notices?: NoticeListener;
  /** how often the per-origin snapshot is written for GET /api/targets (0: never) */
  snapshotMs?: number;
}

interface Chain extends Job {
  run: ClaimedRun;
  origin: string;
  /** the request made ahead (see prepare); rebuilt when the task or the attempt differs */
  prep?: Prepared;
  /** performance.now() of the first send, for marking it running later */
  sentAt?: number;
  /** the origin whose queue the chain was submitted to */
  queuedOn?: string;
  /** the chain ended (drop): nothing more to mark or send */
  ended?: boolean;
  /** when the first request was sent (by this node or, for a rescued run, the first owner) */
  startedAt: Date | null;
  late: boolean;
  lateReason: string | null;
  deliveries: Delivery[];
  /** attempts this owner may still make */
  budget: number;
  /** the run may be `running` in the database: hand it back with its attempts on stop */
  started: boolean;
  firstDeferredAt?: number;
  timer?: NodeJS.Timeout;
  sending?: Promise<unknown>;
}

/** Exponential backoff with "equal jitter": between half and all of base·2^(n-1), capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** scheme://host:port of a URL; a URL that does not parse gets a queue of its own. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid';
  }
}

/** A run's request made ahead, and what it was made from (an edit replaces these objects). */
interface Prepared {
  req: PreparedRequest;
  origin: string;
  action: unknown;
  payload: unknown;
  taskName: string;
}

/** attempts made (deferrals are not attempts) */
function attemptsOf(deliveries: readonly Delivery[]): number {
  let n = 0;
  for (const d of deliveries) if (!d.deferred) n++;
  return n;
}

/** runs of one fire queued for sending at once, and then in each turn of the event loop */
const ADMIT_AT_ONCE = 512;
const ADMIT_TURN = 1000;
/** how long one turn of preparing held runs may hold the event loop */
const PREPARE_SLICE_MS = 3;
/**
 * A held run's request is made once its instant is this close (and in one go for what
 * falls within a quarter second after). Made at hold time, 45 s ahead, 1,000 runs a
 * second kept ~45,000 requests alive (headers, body, signatures: ~0.7 KB each, reckoned
 * from their fields, not measured), and a
 * claim of many at once (an import's first minutes) made them all in the same seconds.
 */
export const PREPARE_AHEAD_MS = 5_000;
const PREPARE_GROUP_MS = 250;
/** seconds from its instant's that a held run is signed for ahead: a burst going out within them pays no signing */
const SIGN_AHEAD_SECONDS = 3;
const START_RETRY_MS = [250, 500, 1000, 2000, 5000];
const PROGRESS_FLUSH_MS = 25;
/** a delivery still in progress this long after its first request is marked `running` */
const MARK_RUNNING_AFTER_MS = 500;

/**
 * Batches the fenced "running since" marks and attempt saves (runsProgressSave). Each
 * caller learns whether the run is still ours; if the database is unreachable the
 * answer is yes (keep going: the final write is fenced anyway).
 */
class ProgressWriter {
  private queue: { item: RunProgress; done: (ours: boolean) => void }[] = [];
  private timer?: NodeJS.Timeout;
  private writing = new Set<Promise<void>>();

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  save(item: RunProgress): Promise<boolean> {
    return new Promise((done) => {
      this.queue.push({ item, done });
      this.timer ??= setTimeout(() => this.flush(), PROGRESS_FLUSH_MS);
    });
  }

  private flush() {
    this.timer = undefined;
    const batch = this.queue.splice(0, 5000);
    if (this.queue.length) this.timer = setTimeout(() => this.flush(), 0);
    if (!batch.length) return;
    const w = runsProgressSave(this.sql, this.nodeId, batch.map((b) => b.item)).then(
      (ids) => {
        const ours = new Set(ids);
        for (const b of batch) b.done(ours.has(b.item.id));
      },
      (err) => {
        this.log.warn({ err: (err as Error).message, batch: batch.length }, 'could not save webhook progress');
        for (const b of batch) b.done(true);
      },
    );
    this.writing.add(w);
    void w.finally(() => this.writing.delete(w));
  }

  async flushed(): Promise<void> {
    clearTimeout(this.timer);
    while (this.queue.length) this.flush();
    await Promise.all(this.writing);
  }
}

export class WebhookDeliverer implements Service {
  private readonly chains = new Map<string, Chain>();
  /** runs handed back by the last stop, for another node to continue */
  handedBack = 0;
  private unsubscribe?: () => void;
  private snapshotTimer?: NodeJS.Timeout;
  private snapshotWrite?: Promise<void>;
  private snapshotShown = false;
  /** chains per origin (back-pressure is per origin) */
  private readonly perOrigin = new Map<string, number>();
  private readonly stopSignal = new AbortController();
  private running = false;
  private readonly transport: Transport;
  readonly dispatcher: Dispatcher;
  private readonly progress: ProgressWriter;
  private readonly toMark: Chain[] = [];
  private marked = 0;
  private readonly toPrepare: ClaimedRun[] = [];
  /** runs handed over by a large fire, not yet queued for sending (see deliver) */
  private readonly incoming: { run: ClaimedRun; late: boolean; lateReason: string | null }[] = [];
  private admitTimer?: NodeJS.Immediate;
  private admittedNow = 0;
  private prepareTimer?: NodeJS.Immediate;
  /** held runs whose request is made later (PREPARE_AHEAD_MS before their instant) */
  private readonly prepareLater = new TimerQueue<ClaimedRun>();
  private laterTimer?: Timer;
  private laterAt = Infinity;
  /** requests made ahead for held runs, by run (a run handed back or dropped leaves with its entry) */
  private readonly prepared = new WeakMap<ClaimedRun, Prepared>();
  private markTimer?: NodeJS.Timeout;

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly clock: Clock,
    private readonly recorder: Recorder,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly settings: DelivererSettings,
    private readonly send: (req: OutgoingRequest, opts: SendOptions, transport: Transport) => Promise<AttemptOutcome> = sendWebhook,
  ) {
    const perOrigin = settings.perOrigin ?? Math.min(settings.concurrency, 64);
    this.originCap = perOrigin;
    this.transport = new Transport(settings.allow, perOrigin);
    this.dispatcher = new Dispatcher({
      concurrency: settings.concurrency,
      perOrigin,
      rateLimits: settings.rateLimits,
      tripAfter: settings.circuitTripAfter,
      openMs: settings.circuitOpenMs,
    });
    this.dispatcher.onCircuit = (origin, state: CircuitState, reason) => {
      this.metrics.webhookCircuitChanges.inc({ state });
      this.log.warn({ origin, state, reason }, 'webhook circuit changed');
    };
    this.progress = new ProgressWriter(sql, nodeId, log);
    // every attempt in flight listens for the node stopping
    setMaxListeners(0, this.stopSignal.signal);
    // label lookups once, not per attempt
    this.attemptCounters = {
      ok: metrics.webhookAttempts.labels('ok'),
      retryable: metrics.webhookAttempts.labels('retryable'),
      refused: metrics.webhookAttempts.labels('refused'),
    };
  }
  private readonly originCap: number;
  private readonly attemptCounters: Record<'ok' | 'retryable' | 'refused', { inc(): void }>;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.settings.notices?.subscribe('task', (n) => {
      if (n.cancelled) this.forgetTask(n.id, n.change === 'deleted');
      else if (n.change === 'updated') void this.refresh(n.id);
    });
    const every = this.settings.snapshotMs ?? 0;
    if (every > 0) {
      this.snapshotTimer = setInterval(() => this.saveSnapshot(), every);
      this.snapshotTimer.unref();
    }
  }

  /** Per-origin state for GET /api/targets, written only while there is something to show (or to clear). */
  private saveSnapshot() {
    if (this.snapshotWrite) return;
    const items = this.snapshot().slice(0, 50);
    if (!items.length && !this.snapshotShown) return;
    this.snapshotShown = items.length > 0;
    this.snapshotWrite = nodeTargetsSave(this.sql, this.nodeId, items)
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'could not save the delivery snapshot'))
      .finally(() => (this.snapshotWrite = undefined));
  }

  private async refresh(taskId: string) {
    this.admitAll();
    if (![...this.chains.values()].some((c) => c.run.taskId === taskId && !c.deliveries.length)) return;
    try {
      const fresh = await taskDeliveryGet(this.sql, taskId);
      if (fresh) this.taskEdited(taskId, fresh);
    } catch (err) {
      this.log.warn({ taskId, err: (err as Error).message }, 'could not re-read an edited task; its queued webhooks go out as claimed');
    }
  }

  /** Webhook runs this node is working on (queued, sending or waiting to retry). */
  get active(): number {
    return this.chains.size + this.incoming.length;
  }

  /**
   * What counts against the node's claim budget: each origin's runs up to its slot cap.
   * The rest of a backed-up origin's runs wait in its own queue without counting, so it
   * does not stop the node from claiming work for the others. (What the node holds is
   * still bounded: only what falls due within the claim horizon is claimed.)
   */
  get pressure(): number {
    let n = 0;
    for (const v of this.perOrigin.values()) n += Math.min(v, this.originCap);
    return n;
  }

  /** Attempts waiting for a connection slot (the node is busy sending). */
  get waiting(): number {
    return this.dispatcher.queued + this.incoming.length;
  }

  snapshot(): OriginSnapshot[] {
    return this.dispatcher.snapshot();
  }

  /**
   * Called by the executor at the run's instant; returns at once. The first ADMIT_AT_ONCE
   * runs of a large fire are queued for sending at once; the rest in turns of ADMIT_TURN,
   * so the answers of the first requests (and the next sends) are not held up while the
   * fire's last runs are queued. Notices and stop() admit everything first.
   */
  deliver(run: ClaimedRun, late: boolean, lateReason: string | null): void {
    if (!this.incoming.length && this.admittedNow < ADMIT_AT_ONCE) {
      // the count is of this turn of the event loop: reset once the caller's loop is done
      if (this.admittedNow++ === 0) queueMicrotask(() => (this.admittedNow = 0));
      return this.admit(run, late, lateReason);
    }
    this.incoming.push({ run, late, lateReason });
    this.admitTimer ??= setImmediate(() => this.admitSome());
  }

  private admitSome() {
    this.admitTimer = undefined;
    const turn = this.incoming.splice(0, ADMIT_TURN);
    for (const i of turn) this.admit(i.run, i.late, i.lateReason);
    if (this.incoming.length) this.admitTimer = setImmediate(() => this.admitSome());
  }

  private admitAll() {
    if (this.admitTimer) clearImmediate(this.admitTimer);
    this.admitTimer = undefined;
    while (this.incoming.length) {
      const turn = this.incoming.splice(0, ADMIT_TURN);
      for (const i of turn) this.admit(i.run, i.late, i.lateReason);
    }
  }

  private admit(run: ClaimedRun, late: boolean, lateReason: string | null): void {
    if (this.chains.has(run.id)) return;
    if (!this.running) return this.settings.inFlight?.close(run.id);
    const action = run.action as WebhookAction;
    const deliveries = run.deliveries ?? [];
    const first = deliveries.find((d) => !d.deferred);
    const prep = this.preparedFor(run, deliveries.length ? attemptsOf(deliveries) + 1 : 1);
    const c: Chain = {
      run,
      origin: prep?.origin ?? originOf(action.url),
      prep,
      send: () => this.sendJob(c),
      defer: (reason, retryAt) => this.defer(c, reason, retryAt),
      startedAt: first ? new Date(first.startedAt) : null,
      late,
      lateReason,
      deliveries,
      // a rescued run continues the count of its earlier owner, with at least one more try
      budget: Math.max(1, (action.maxAttempts ?? 3) - deliveries.filter((d) => !d.deferred).length),
      started: deliveries.length > 0,
    };
    this.chains.set(run.id, c);
    // Beyond its origin's slot cap a run waits in that origin's queue without counting
    // against the node's claim budget: a backed-up origin does not stop claiming for the others.
    if (this.count(c.origin, +1) > this.originCap) this.settings.inFlight?.setCounted(run.id, false);
    if (run.overlapPolicy === 'skip') {
      c.sending = this.startExclusive(c).catch((err) => {
        this.log.error({ err, runId: run.id }, 'webhook delivery failed unexpectedly');
        this.drop(c);
      });
    } else this.attempt(c);
  }

  /**
   * Called as a webhook run is held, ahead of its instant: the request is made
   * PREPARE_AHEAD_MS before it, while the node waits (a few milliseconds at a time, see
   * prepareSome), with signatures for the instant's second and the next two (a
   * burst going out within them pays no signing). Only the attempt number and, past those seconds, the
   * signature are left for the send. An edit replaces the run's action or payload, so
   * the prepared request is used only while it was made from the very same objects.
   */
  prepare(run: ClaimedRun): void {
    if (run.action.type !== 'webhook' || run.deliveries?.length) return;
    const at = run.scheduledFor.getTime() - PREPARE_AHEAD_MS;
    if (at > this.clock.now().getTime()) {
      this.prepareLater.push(at, run);
      this.armLater(at);
      return;
    }
    this.toPrepare.push(run);
    this.prepareTimer ??= setImmediate(() => this.prepareSome());
  }

  private armLater(at: number) {
    if (at >= this.laterAt || !this.running) return;
    this.laterTimer?.cancel();
    this.laterAt = at;
    this.laterTimer = this.clock.setTimer(() => this.prepareNow(), Math.max(0, at - this.clock.now().getTime()));
  }

  /** Moves what is now within PREPARE_AHEAD_MS of its instant to the preparing queue. */
  private prepareNow() {
    this.laterTimer = undefined;
    this.laterAt = Infinity;
    const due = this.prepareLater.popDue(this.clock.now().getTime() + PREPARE_GROUP_MS);
    for (const r of due) this.toPrepare.push(r);
    if (due.length) this.prepareTimer ??= setImmediate(() => this.prepareSome());
    const next = this.prepareLater.peekKey();
    if (next !== undefined) this.armLater(next);
  }

  /** Prepares held runs a few milliseconds at a time, so timers due meanwhile are not held up. */
  private prepareSome() {
    this.prepareTimer = undefined;
    const until = performance.now() + PREPARE_SLICE_MS;
    let k = 0;
    while (k < this.toPrepare.length) {
      const run = this.toPrepare[k++]!;
      if (run.action.type !== 'webhook' || this.chains.has(run.id)) continue; // delivered meanwhile
      const p = this.makePrepared(run, 1);
      signAhead(p.req, this.settings.secrets, Math.floor(run.scheduledFor.getTime() / 1000), SIGN_AHEAD_SECONDS);
      this.prepared.set(run, p);
      if ((k & 31) === 0 && performance.now() > until) break;
    }
    this.toPrepare.splice(0, k);
    if (this.toPrepare.length) this.prepareTimer = setImmediate(() => this.prepareSome());
  }

  private makePrepared(run: ClaimedRun, attempt: number): Prepared {
    const action = run.action as WebhookAction;
    const req = prepareRequest(
      action,
      { taskId: run.taskId, taskName: run.taskName, scheduledFor: run.scheduledFor, runId: String(run.id), attempt, trigger: run.trigger, payload: run.payload, idempotencyKey: run.idempotencyKey },
      { userAgent: this.settings.userAgent },
    );
    return { req, origin: req.target?.origin ?? 'invalid', action: run.action, payload: run.payload, taskName: run.taskName };
  }

  /** The run's prepared request for attempt `n`, if one was made from the run as it is now. */
  private preparedFor(run: ClaimedRun, n: number, c?: Chain): Prepared | undefined {
    const p = c?.prep ?? this.prepared.get(run);
    if (p && p.action === run.action && p.payload === run.payload && p.taskName === run.taskName && p.req.attempt === n) return p;
    return undefined;
  }

  /**
   * A task's claimed occurrences were cancelled (paused, deleted, rescheduled): runs
   * queued here and not yet sent are dropped, as the executor drops what it holds (the
   * database already recorded them skipped; a deletion cancels manual runs too). Runs
   * whose request went out finish; their result is fenced.
   */
  forgetTask(taskId: string, manualToo = false): number {
    this.admitAll();
    let n = 0;
    for (const c of [...this.chains.values()]) {
      if (c.run.taskId !== taskId || c.started || (!manualToo && c.run.trigger !== 'schedule')) continue;
      if (this.drop(c)) n++;
    }
    return n;
  }

  /** A task was edited and its held occurrences kept: runs not yet sent go out as it is now. */
  taskEdited(taskId: string, now: TaskDelivery): void {
    this.admitAll();
    for (const c of this.chains.values()) {
      if (c.run.taskId !== taskId || c.deliveries.length || c.run.retryOf) continue;
      Object.assign(c.run, now);
      c.prep = undefined;
      if (now.action.type !== 'webhook') continue; // sent as is when its turn comes (see send)
      const origin = originOf(now.action.url);
      if (origin !== c.origin) {
        this.count(c.origin, -1);
        this.count(origin, +1);
        c.origin = origin;
      }
    }
  }

  private count(origin: string, d: number): number {
    const v = (this.perOrigin.get(origin) ?? 0) + d;
    if (v <= 0) this.perOrigin.delete(origin);
    else this.perOrigin.set(origin, v);
    return v;
  }

  /** The run's chain ends here; `settled`: its result went to the recorder (which closes its account entry). */
  private drop(c: Chain, settled = false) {
    if (!this.chains.delete(c.run.id)) return false;
    c.ended = true;
    clearTimeout(c.timer);
    this.count(c.origin, -1);
    if (!settled) this.settings.inFlight?.close(c.run.id);
    return true;
  }

  /** overlap policy `skip`: mark the run running (or skipped) in one fenced step before sending. */
  private async startExclusive(c: Chain): Promise<void> {
    let start;
    for (let i = 0; ; i++) {
      if (!this.running) return void this.drop(c);
      try {
        start = await runsStartWebhook(this.sql, { id: c.run.id, attempt: c.run.attempt, nodeId: this.nodeId, taskId: c.run.taskId, startedAt: this.clock.now() });
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
      return void this.drop(c);
    }
    if (start.status === 'skipped') {
      this.metrics.runs.inc({ status: 'skipped' });
      return void this.drop(c);
    }
    c.started = true;
    Object.assign(c.run, { action: start.action, payload: start.payload, taskName: start.taskName });
    c.prep = undefined;
    if (start.action.type === 'webhook') {
      const origin = originOf(start.action.url);
      if (origin !== c.origin) (this.count(c.origin, -1), this.count(origin, +1), (c.origin = origin));
    }
    this.attempt(c);
  }

  private attempt(c: Chain): void {
    c.timer = undefined;
    if (!this.running || !this.chains.has(c.run.id)) return;
    // the chain is its own job: the origin it queues on is the one it has now
    c.queuedOn = c.origin;
    this.dispatcher.submit(c);
  }

  private sendJob(c: Chain): Promise<AttemptOutcome | undefined> {
    return (c.sending = this.attemptNow(c, c.queuedOn!));
  }

  private defer(c: Chain, reason: string, retryAt: number) {
    if (!this.running || !this.chains.has(c.run.id)) return;
    const now = this.clock.now();
    c.firstDeferredAt ??= now.getTime();
    const maxWait = this.settings.circuitMaxWaitMs ?? 600_000;
    c.deliveries.push({ n: c.deliveries.filter((d) => !d.deferred).length + 1, startedAt: now.toISOString(), durationMs: 0, nodeId: this.nodeId, error: `${reason}; not sent, waiting`, deferred: true });
    this.metrics.webhookAttempts.inc({ outcome: 'deferred' });
    if (now.getTime() - c.firstDeferredAt > maxWait) {
      return this.finish(c, 'failed', `${this.prefix(c)}gave up: ${reason}, for more than ${Math.round(maxWait / 1000)} s`);
    }
    // spread the queue's return over a moment so the probe goes out alone first
    const wait = Math.max(0, retryAt - Date.now()) + Math.random() * 250;
    c.timer = setTimeout(() => this.attempt(c), wait);
  }

  private prefix(c: Chain) {
    return c.lateReason ? `${c.lateReason}; ` : '';
  }

  /** One attempt; resolves with its outcome (for the dispatcher), or undefined when nothing was sent. */
  private async attemptNow(c: Chain, queuedOn: string): Promise<AttemptOutcome | undefined> {
    if (!this.running || !this.chains.has(c.run.id)) return undefined;
    if (c.run.action.type !== 'webhook') {
      // the task became a `log` task after this occurrence was claimed, before it was sent
      this.finish(c, 'succeeded', c.lateReason);
      return undefined;
    }
    if (c.origin !== queuedOn) {
      // edited to another origin while queued: wait in that origin's queue instead
      this.attempt(c);
      return undefined;
    }
    const action = c.run.action;
    const n = c.deliveries.length ? attemptsOf(c.deliveries) + 1 : 1;
    const at = this.clock.now();
    if (n === 1 && this.expired(c, at)) return undefined;
    const t0 = performance.now();
    let sentAt: Date | undefined;
    let prep = this.preparedFor(c.run, n, c);
    if (!prep) prep = c.prep = this.makePrepared(c.run, n);
    const req = requestOf(prep.req, n, this.settings.secrets, Math.floor(at.getTime() / 1000));
    const outcome = await this.send(
      req,
      {
        timeoutMs: action.timeoutMs ?? 10_000,
        allow: this.settings.allow,
        onSent: () => {
          sentAt = this.clock.now();
          if (c.startedAt) return;
          c.startedAt = sentAt;
          c.started = true;
          const lagMs = sentAt.getTime() - c.run.scheduledFor.getTime();
          this.metrics.fireLag.observe(Math.max(0, lagMs) / 1000);
          this.markLater(c);
        },
      },
      this.transport,
    );
    if (outcome.aborted) return outcome; // stopping: stop() hands the run back
    try {
      const retry = this.afterAttempt(c, n, sentAt ?? at, outcome);
      if (retry) void this.retryLater(c, sentAt ?? at, t0, outcome, retry).catch((err) => this.failInternally(c, err));
    } catch (err) {
      this.failInternally(c, err);
    }
    return outcome;
  }

  /**
   * A run becomes `running` in the database only if it is still in progress a moment
   * after its first request went out (batched, fenced). Most deliveries finish sooner,
   * and their one write is the result: in a burst that halves the database work. The
   * run is ours either way (pending or running, owned by this node, under our lease).
   */
  private markLater(c: Chain) {
    c.sentAt = performance.now();
    this.toMark.push(c);
    if (!this.markTimer) this.markTimer = setTimeout(() => this.markDue(), MARK_RUNNING_AFTER_MS);
  }

  private markDue() {
    this.markTimer = undefined;
    const now = performance.now();
    const due = now - MARK_RUNNING_AFTER_MS;
    // a queue read from `marked` on (sends are pushed in time order); compacted now and then
    let k = this.marked;
    for (; k < this.toMark.length && this.toMark[k]!.sentAt! <= due; k++) {
      const c = this.toMark[k]!;
      if (!c.ended && c.startedAt) void this.progress.save({ id: c.run.id, attempt: c.run.attempt, startedAt: c.startedAt });
    }
    if (k === this.toMark.length) {
      this.toMark.length = 0;
      k = 0;
    } else if (k > 4096) {
      this.toMark.splice(0, k);
      k = 0;
    }
    this.marked = k;
    if (this.toMark.length) this.markTimer = setTimeout(() => this.markDue(), Math.max(1, this.toMark[k]!.sentAt! - due));
  }

  /** `maxLatenessMs`: judged once, as the first attempt of a scheduled occurrence would start (after any queueing). */
  private expired(c: Chain, at: Date): boolean {
    const lateBy = at.getTime() - c.run.scheduledFor.getTime();
    if (!lateBeyondLimit(c.run, lateBy)) return false;
    this.finish(c, 'skipped', expiredReason(lateBy, c.run.maxLatenessMs!));
    return true;
  }

  /** Records the attempt and settles the run, or returns how long to wait before the next attempt. */
  private afterAttempt(c: Chain, n: number, at: Date, outcome: AttemptOutcome): number | undefined {
    const entry: Delivery = { n, startedAt: at.toISOString(), durationMs: outcome.durationMs, nodeId: this.nodeId };
    if (outcome.finalUrl) entry.url = outcome.finalUrl;
    if (outcome.statusCode !== undefined) entry.statusCode = outcome.statusCode;
    if (outcome.error) entry.error = outcome.error;
    if (outcome.response) entry.response = outcome.response;
    if (outcome.truncated) entry.truncated = true;
    c.deliveries.push(entry);
    c.budget--;
    this.attemptCounters[outcome.ok ? 'ok' : outcome.retryable ? 'retryable' : 'refused'].inc();
    this.metrics.webhookDuration.observe(entry.durationMs / 1000);

    const what = outcome.statusCode !== undefined ? `HTTP ${outcome.statusCode}` : outcome.error!;
    const prefix = c.lateReason ? `${c.lateReason}; ` : '';
    if (outcome.ok) {
      this.finish(c, 'succeeded', n > 1 ? `${prefix}${what} on attempt ${n}` : prefix ? `${prefix}${what}` : what);
      return undefined;
    }
    if (!outcome.retryable) {
      this.finish(c, 'failed', `${prefix}${what}${outcome.statusCode !== undefined && outcome.error ? `: ${outcome.error}` : ''} (not retried)`);
      return undefined;
    }
    if (c.budget <= 0) {
      this.finish(c, 'failed', `${prefix}gave up after ${n} attempt${n > 1 ? 's' : ''}: ${what}`);
      return undefined;
    }
    if (!this.running) return undefined; // stopping: stop() hands the run back with this attempt
    const failures = c.deliveries.filter((d) => d.nodeId === this.nodeId && !d.deferred).length;
    return Math.min(this.settings.retryMaxMs, Math.max(backoffMs(failures, this.settings.retryBaseMs, this.settings.retryMaxMs), outcome.retryAfterMs ?? 0));
  }

  private async retryLater(c: Chain, at: Date, t0: number, outcome: AttemptOutcome, wait: number): Promise<void> {
    // Show the attempt in the run log while waiting, and check the run is still ours: if
    // our lease lapsed (a freeze) and another node took the run over, it sends from now on.
    const ours = await this.progress.save({ id: c.run.id, attempt: c.run.attempt, startedAt: c.startedAt ?? at, deliveries: c.deliveries });
    if (!ours) {
      this.metrics.fenced.inc();
      this.log.warn({ runId: c.run.id }, 'webhook run was taken over by another node; no more attempts from here');
      return void this.drop(c);
    }
    if (!this.running || !this.chains.has(c.run.id)) return;
    c.timer = setTimeout(() => this.attempt(c), Math.max(0, wait - (performance.now() - t0 - outcome.durationMs)));
  }

  private failInternally(c: Chain, err: unknown) {
    this.log.error({ err, runId: c.run.id }, 'webhook attempt failed unexpectedly');
    this.finish(c, 'failed', `internal error: ${(err as Error).message}`);
  }

  private finish(c: Chain, status: 'succeeded' | 'failed' | 'skipped', reason: string | null): void {
    if (!this.drop(c, true)) return;
    this.recorder.add({
      id: c.run.id,
      attempt: c.run.attempt,
      status,
      startedAt: status === 'skipped' ? null : (c.startedAt ?? this.clock.now()),
      finishedAt: this.clock.now(),
      late: c.late,
      reason,
      deliveries: c.deliveries,
    });
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
   * attempts so far, for another node to continue; runs never sent stay pending and are
   * released with the rest of what the node held.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.admitAll();
    this.running = false;
    this.unsubscribe?.();
    clearInterval(this.snapshotTimer);
    await this.snapshotWrite;
    for (const c of this.chains.values()) clearTimeout(c.timer);
    const sending = [...this.chains.values()].map((c) => c.sending).filter(Boolean);
    if (sending.length) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(sending), new Promise((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
    }
    this.stopSignal.abort();
    this.transport.abortAll();
    if (this.prepareTimer) clearImmediate(this.prepareTimer);
    this.prepareTimer = undefined;
    this.toPrepare.length = 0;
    this.laterTimer?.cancel();
    this.laterTimer = undefined;
    this.laterAt = Infinity;
    this.prepareLater.drain();
    this.dispatcher.stop();
    clearTimeout(this.markTimer);
    this.toMark.length = 0;
    for (const c of this.chains.values()) clearTimeout(c.timer);
    await this.progress.flushed();
    const handBack = [...this.chains.values()].filter((c) => c.started).map((c) => ({ id: c.run.id, attempt: c.run.attempt, deliveries: c.deliveries }));
    for (const c of [...this.chains.values()]) this.drop(c);
    this.perOrigin.clear();
    await this.transport.close();
    if (!handBack.length) return;
    this.handedBack = await runsReleaseDeliveries(this.sql, this.nodeId, handBack).catch((err) => {
      this.log.warn({ err: (err as Error).message }, 'could not hand back webhook runs; they will be rescued when the lease lapses');
      return 0;
    });
  }
}
