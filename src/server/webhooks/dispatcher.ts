// Shares this node's delivery capacity among origins (scheme + host + port).
//
// - Work-conserving: any origin may use slots the others leave idle, so one receiver
//   alone can have up to `perOrigin` attempts in flight.
// - Fair: when slots are scarce, origins with queued attempts take turns (round robin),
//   and none holds more than `perOrigin`: a hung receiver ties up at most that many
//   slots for its timeout while the others keep theirs.
// - Rate limit (optional, per origin): a token bucket of `rps` tokens a second.
// - Circuit breaker (per origin): after `tripAfter` unreachable outcomes in a row
//   (timeouts, refused or reset connections) the circuit opens: queued attempts are
//   handed back to their owners to wait (a deferral, recorded with its reason, that
//   does not count as an attempt). When the open period ends one probe goes out
//   (half-open); success closes the circuit, another failure opens it for twice as long.
//
// All of this is per node: each node has its own slots, queues and circuits. The
// Targets view merges the nodes' snapshots (store/targets.ts).
import type { AttemptOutcome } from './http.js';

export interface Job {
  readonly origin: string;
  /** makes the attempt; called when the origin has a slot (undefined: nothing was sent after all) */
  send(): Promise<AttemptOutcome | undefined>;
  /** the origin's circuit is open: wait until `retryAt` (epoch ms), then submit again */
  defer(reason: string, retryAt: number): void;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface DispatcherSettings {
  /** attempts in flight on this node, all origins together */
  concurrency: number;
  /** attempts in flight to one origin */
  perOrigin: number;
  /** requests a second, by origin; absent: unlimited */
  rateLimits?: ReadonlyMap<string, number>;
  /** unreachable outcomes in a row that open the circuit */
  tripAfter?: number;
  openMs?: number;
  maxOpenMs?: number;
}

export interface OriginSnapshot {
  origin: string;
  inFlight: number;
  queued: number;
  attempts: number;
  failures: number;
  p50Ms: number | null;
  p99Ms: number | null;
  circuit: CircuitState;
  circuitSince: string | null;
  /** attempt durations in the window, at most SAMPLE_KEEP evenly spaced quantiles (for merging) */
  samples: number[];
}

const WINDOW_MS = 300_000;
const RING = 4096;
const SAMPLE_KEEP = 64;

class Origin {
  readonly queue: Job[] = [];
  head = 0;
  inFlight = 0;
  circuit: CircuitState = 'closed';
  circuitSince: number | null = null;
  circuitReason = '';
  unreachableInARow = 0;
  openUntil = 0;
  openMs: number;
  tokens: number;
  tokensAt = Date.now();
  /** ring of recent attempts: finish time, duration, ok */
  readonly at = new Float64Array(RING);
  readonly ms = new Float32Array(RING);
  readonly ok = new Uint8Array(RING);
  n = 0;
  lastUsed = Date.now();

  constructor(
    readonly name: string,
    readonly rps: number | undefined,
    openMs: number,
  ) {
    this.openMs = openMs;
    this.tokens = rps ? Math.max(1, rps) : 0;
  }

  get queued() {
    return this.queue.length - this.head;
  }
  shift(): Job | undefined {
    if (this.head >= this.queue.length) return undefined;
    const j = this.queue[this.head]!;
    this.queue[this.head++] = undefined as never;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return j;
  }
  takeAll(): Job[] {
    const all = this.queue.slice(this.head);
    this.queue.length = 0;
    this.head = 0;
    return all;
  }
  record(durationMs: number, ok: boolean) {
    const k = this.n++ % RING;
    this.at[k] = Date.now();
    this.ms[k] = durationMs;
    this.ok[k] = ok ? 1 : 0;
  }
}

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export class Dispatcher {
  private readonly origins = new Map<string, Origin>();
  /** origins that have queued jobs, in turn order */
  private readonly ready: Origin[] = [];
  private turn = 0;
  private inFlight = 0;
  /** jobs queued on all origins, waiting for a slot */
  private queuedJobs = 0;
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = Infinity;
  private readonly tripAfter: number;
  private readonly openMs: number;
  private readonly maxOpenMs: number;
  /** called when an origin's circuit changes state */
  onCircuit?: (origin: string, state: CircuitState, reason: string) => void;

  constructor(private readonly s: DispatcherSettings) {
    this.tripAfter = s.tripAfter ?? 5;
    this.openMs = s.openMs ?? 5_000;
    this.maxOpenMs = s.maxOpenMs ?? 60_000;
  }

  private originOf(name: string): Origin {
    let o = this.origins.get(name);
    if (!o) this.origins.set(name, (o = new Origin(name, this.s.rateLimits?.get(name), this.openMs)));
    o.lastUsed = Date.now();
    return o;
  }

  submit(job: Job): void {
    const o = this.originOf(job.origin);
    if (o.circuit === 'open' && Date.now() < o.openUntil) {
      job.defer(o.circuitReason, o.openUntil);
      return;
    }
    o.queue.push(job);
    this.queuedJobs++;
    if (o.queued === 1) this.ready.push(o);
    this.pump();
  }

  /** Jobs waiting for a slot, all origins together. */
  get queued(): number {
    return this.queuedJobs;
  }

  circuitOf(origin: string): CircuitState {
    return this.origins.get(origin)?.circuit ?? 'closed';
  }

  /** Starts as many queued jobs as slots, rate limits and circuits allow, origins in turn. */
  private pump(): void {
    let idleTurns = 0;
    while (this.inFlight < this.s.concurrency && this.ready.length && idleTurns < this.ready.length) {
      if (this.turn >= this.ready.length) this.turn = 0;
      const o = this.ready[this.turn]!;
      if (!o.queued) {
        this.ready.splice(this.turn, 1);
        continue;
      }
      const blocked = this.blocked(o);
      if (blocked === 'deferred') {
        this.ready.splice(this.turn, 1);
        idleTurns = 0;
        continue;
      }
      if (blocked) {
        idleTurns++;
        this.turn++;
        continue;
      }
      idleTurns = 0;
      const job = o.shift()!;
      this.queuedJobs--;
      if (!o.queued) this.ready.splice(this.turn, 1);
      else this.turn++;
      this.start(o, job);
    }
  }

  /** Why `o` may not start a job now (false: it may). */
  private blocked(o: Origin): boolean | 'deferred' {
    if (o.inFlight >= this.s.perOrigin) return true;
    const now = Date.now();
    if (o.circuit === 'open') {
      if (now < o.openUntil) {
        // hand the queue back to wait out the open period, off this node's slots
        for (const j of this.takeAll(o)) j.defer(o.circuitReason, o.openUntil);
        return 'deferred';
      }
      this.setCircuit(o, 'half-open', o.circuitReason);
    }
    // half-open: exactly one probe until it answers
    if (o.circuit === 'half-open' && o.inFlight > 0) return true;
    if (o.rps) {
      o.tokens = Math.min(Math.max(1, o.rps), o.tokens + ((now - o.tokensAt) / 1000) * o.rps);
      o.tokensAt = now;
      if (o.tokens < 1) {
        this.wakeIn(Math.ceil(((1 - o.tokens) / o.rps) * 1000));
        return true;
      }
      o.tokens -= 1;
    }
    return false;
  }

  private takeAll(o: Origin): Job[] {
    const all = o.takeAll();
    this.queuedJobs -= all.length;
    return all;
  }

  private wakeIn(ms: number) {
    const at = Date.now() + ms;
    if (this.wakeTimer && this.wakeAt <= at) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      this.pump();
    }, ms);
    this.wakeTimer.unref();
  }

  private start(o: Origin, job: Job) {
    this.inFlight++;
    o.inFlight++;
    const done = (out: AttemptOutcome | undefined) => {
      this.inFlight--;
      o.inFlight--;
      if (out && !out.aborted) this.observe(o, out);
      this.pump();
    };
    job.send().then(done, () => done(undefined));
  }

  private observe(o: Origin, out: AttemptOutcome) {
    o.record(out.durationMs, out.ok);
    if (out.unreachable) {
      o.unreachableInARow++;
      const reason = `circuit open: ${o.unreachableInARow} attempts in a row to ${o.name} failed (last: ${out.error})`;
      if (o.circuit === 'half-open') {
        o.openMs = Math.min(this.maxOpenMs, o.openMs * 2);
        this.open(o, reason);
      } else if (o.circuit === 'closed' && o.unreachableInARow >= this.tripAfter) {
        this.open(o, reason);
      }
    } else {
      // any answer (even a 5xx) shows the receiver is reachable
      o.unreachableInARow = 0;
      if (o.circuit !== 'closed') {
        o.openMs = this.openMs;
        this.setCircuit(o, 'closed', 'a probe was answered');
      }
    }
  }

  private open(o: Origin, reason: string) {
    o.openUntil = Date.now() + o.openMs;
    this.setCircuit(o, 'open', reason);
    // jobs already queued wait too; pump() hands them back
    if (o.queued) {
      for (const j of this.takeAll(o)) j.defer(o.circuitReason, o.openUntil);
    }
  }

  private setCircuit(o: Origin, state: CircuitState, reason: string) {
    if (o.circuit === state) return;
    o.circuit = state;
    o.circuitSince = state === 'closed' ? null : (o.circuitSince ?? Date.now());
    if (state === 'open') o.circuitReason = reason;
    this.onCircuit?.(o.name, state, reason);
  }

  /** Per-origin state for the Targets view and metrics, busiest first; idle origins age out. */
  snapshot(now = Date.now()): OriginSnapshot[] {
    const out: OriginSnapshot[] = [];
    for (const [name, o] of this.origins) {
      const from = now - WINDOW_MS;
      const durations: number[] = [];
      let failures = 0;
      for (let k = 0; k < Math.min(o.n, RING); k++) {
        if (o.at[k]! < from) continue;
        durations.push(o.ms[k]!);
        if (!o.ok[k]) failures++;
      }
      if (!durations.length && !o.inFlight && !o.queued && o.circuit === 'closed') {
        if (o.lastUsed < from) this.origins.delete(name);
        continue;
      }
      durations.sort((a, b) => a - b);
      const keep = durations.length <= SAMPLE_KEEP ? durations : Array.from({ length: SAMPLE_KEEP }, (_, i) => durations[Math.floor(((i + 0.5) / SAMPLE_KEEP) * durations.length)]!);
      out.push({
        origin: name,
        inFlight: o.inFlight,
        queued: o.queued,
        attempts: durations.length,
        failures,
        p50Ms: quantile(durations, 0.5),
        p99Ms: quantile(durations, 0.99),
        circuit: o.circuit,
        circuitSince: o.circuitSince ? new Date(o.circuitSince).toISOString() : null,
        samples: keep.map((v) => Math.round(v)),
      });
    }
    return out.sort((a, b) => b.attempts + b.queued + b.inFlight - (a.attempts + a.queued + a.inFlight));
  }

  stop(): void {
    clearTimeout(this.wakeTimer);
  }
}
