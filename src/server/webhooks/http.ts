// One webhook attempt: an HTTP request through the SSRF guard, following at most
// `maxRedirects` redirects (each hop checked again), with one deadline for the whole
// attempt, reading at most 1 KiB of the answer. It never throws: the outcome says
// whether it worked, and whether trying again could help.
//
// Connections are pooled per origin (an undici Pool with keep-alive): a burst to one
// receiver costs a handful of TCP handshakes, not one per request. The guard still
// decides every connection: the pool's connector resolves through the guarded, cached
// lookup (the answer that is checked is the answer that is used) and checks the
// address the socket actually connected to before the first byte is written.
import { performance } from 'node:perf_hooks';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { addressVerdict, BlockedTargetError, checkLiteral, guardedLookup, hostAllowed, type AllowList, type LookupFn } from './ssrf.js';

export const RESPONSE_KEEP_BYTES = 1024;

export interface OutgoingRequest {
  url: string;
  /** `url` parsed (targetOf), when the caller keeps it from one attempt to the next */
  target?: Target;
  method: string;
  /** an object, or flat (name, value, …) pairs */
  headers: Record<string, string> | string[];
  /** null: no body (GET, or DELETE without one) */
  body: string | Buffer | null;
  /** header names (lower case) set by the task: not forwarded to another origin on redirect */
  taskHeaders: string[];
}

export interface Target {
  origin: string;
  path: string;
  hostname: string;
  protocol: string;
  href: string;
}

export interface SendOptions {
  timeoutMs: number;
  allow: AllowList;
  maxRedirects?: number;
  /** aborts the attempt (the node is stopping); Transport.abortAll does the same for every attempt through it */
  signal?: AbortSignal;
  /** DNS resolution; the system resolver by default (tests substitute one) */
  resolve?: LookupFn;
  /**
   * Called once, as the first request is handed to its origin's pool. The dispatcher
   * only sends when the origin has a free connection slot, so the request goes straight
   * to a socket (an idle keep-alive one, or a new one being connected).
   */
  onSent?: () => void;
}

export interface AttemptOutcome {
  ok: boolean;
  /** worth another attempt: network error, timeout, 408, 429, 5xx */
  retryable: boolean;
  /** the node stopped mid-attempt; the outcome is unknown */
  aborted?: boolean;
  /** the receiver was unreachable: a timeout or a refused/reset connection (feeds the circuit breaker) */
  unreachable?: boolean;
  statusCode?: number;
  error?: string;
  response?: string;
  truncated?: boolean;
  /** set when redirects were followed */
  finalUrl?: string;
  retryAfterMs?: number;
  durationMs: number;
}

/** how often attempts are checked against their deadlines */
const DEADLINE_SWEEP_MS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** How long a resolved host's answers are reused for new connections. */
const DNS_TTL_MS = 30_000;
/** Idle keep-alive connections are closed after this; receivers often close sooner. */
const KEEP_ALIVE_MS = 10_000;

class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * A resolver that remembers each host's answers for a short TTL. Only the raw answers
 * are cached; the guard's verdict is applied to them on every connection.
 */
function cachedResolver(resolve: LookupFn | undefined, ttlMs: number): LookupFn | undefined {
  const base = resolve ?? ((h, o, cb) => void import('node:dns').then((dns) => dns.lookup(h, o, cb)));
  const cache = new Map<string, { until: number; answers: Parameters<Parameters<LookupFn>[2]>[1] }>();
  return (hostname, options, callback) => {
    const hit = cache.get(hostname);
    if (hit && hit.until > Date.now()) return callback(null, hit.answers);
    base(hostname, options, (err, answers) => {
      if (!err) cache.set(hostname, { until: Date.now() + ttlMs, answers });
      callback(err, answers);
    });
  };
}

/**
 * Per-origin connection pools bound to one allow-list. `connections` is the most
 * sockets one origin may have open; the dispatcher keeps in-flight attempts within it,
 * so requests never queue inside undici where their deadline would already be running.
 */
export class Transport {
  private readonly pools = new Map<string, { pool: Pool; used: number }>();
  private readonly lookup: ReturnType<typeof guardedLookup>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly allow: AllowList,
    private readonly connections = 64,
    resolve?: LookupFn,
  ) {
    this.lookup = guardedLookup(allow, cachedResolver(resolve, DNS_TTL_MS));
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private readonly literals = new Map<string, BlockedTargetError | null>();

  /** checkLiteral, remembered per host name (the allow-list is fixed for this transport). */
  checkLiteral(hostname: string): void {
    let verdict = this.literals.get(hostname);
    if (verdict === undefined) {
      try {
        checkLiteral(hostname, this.allow);
        verdict = null;
      } catch (err) {
        if (!(err instanceof BlockedTargetError)) throw err;
        verdict = err;
      }
      if (this.literals.size > 10_000) this.literals.clear();
      this.literals.set(hostname, verdict);
    }
    if (verdict) throw new BlockedTargetError(verdict.message);
  }

  pool(origin: string): Dispatcher {
    let p = this.pools.get(origin);
    if (!p) {
      const base = buildConnector({ lookup: this.lookup as never, timeout: 10_000 });
      const allow = this.allow;
      p = {
        pool: new Pool(origin, {
          connections: this.connections,
          pipelining: 1,
          keepAliveTimeout: KEEP_ALIVE_MS,
          keepAliveMaxTimeout: KEEP_ALIVE_MS,
          connect: (opts, cb) =>
            base(opts, (err, socket) => {
              if (err || !socket) return cb(err ?? new Error('no socket'), null);
              // The address this socket is connected to, whatever resolved it (an IP
              // literal never goes through the lookup at all).
              const verdict = hostAllowed(opts.hostname, allow) ? null : addressVerdict(socket.remoteAddress ?? '', allow);
              if (verdict) {
                socket.destroy();
                return cb(new BlockedTargetError(`refused by the SSRF guard: ${verdict}`), null);
              }
              cb(null, socket);
            }),
        }),
        used: Date.now(),
      };
      this.pools.set(origin, p);
    }
    p.used = Date.now();
    return p.pool;
  }

  private readonly attempts = new Set<Attempt>();
  private stopping = false;

  private deadlineTimer?: NodeJS.Timeout;

  /**
   * Attempts in flight, for their deadlines and for abortAll. One sweep every
   * DEADLINE_SWEEP_MS ends the attempts past their deadline (so a deadline is met within
   * that much), instead of a timer set and cleared per request.
   */
  track(a: Attempt) {
    if (this.stopping) a.stopped = true;
    this.attempts.add(a);
    this.deadlineTimer ??= setTimeout(() => this.sweepDeadlines(), DEADLINE_SWEEP_MS);
  }
  untrack(a: Attempt) {
    this.attempts.delete(a);
  }

  private sweepDeadlines() {
    this.deadlineTimer = undefined;
    const now = performance.now();
    for (const a of this.attempts) if (a.deadline <= now && !a.timedOut) a.timeOut();
    if (this.attempts.size) this.deadlineTimer = setTimeout(() => this.sweepDeadlines(), DEADLINE_SWEEP_MS);
  }

  /** The node is stopping: every attempt in flight through this transport ends as abandoned. */
  abortAll(): void {
    this.stopping = true;
    for (const a of this.attempts) {
      a.stopped = true;
      a.cancel(STOPPED);
    }
  }

  private sweep() {
    const idle = Date.now() - 5 * 60_000;
    for (const [origin, p] of this.pools) {
      if (p.used < idle) {
        this.pools.delete(origin);
        void p.pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearTimeout(this.deadlineTimer);
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.pool.destroy().catch(() => {})));
  }
}

// sendWebhook without a Transport (tests, one-off sends): one per allow-list and resolver
const shared = new WeakMap<AllowList, Map<LookupFn | undefined, Transport>>();
function sharedTransport(allow: AllowList, resolve?: LookupFn): Transport {
  let byResolver = shared.get(allow);
  if (!byResolver) shared.set(allow, (byResolver = new Map()));
  let t = byResolver.get(resolve);
  if (!t) byResolver.set(resolve, (t = new Transport(allow, 64, resolve)));
  return t;
}

interface HopResult {
  status: number;
  /** raw header pairs (name, value, …) as undici delivers them; read only when needed */
  raw: Buffer[] | string[] | null;
  body: Buffer;
  truncated: boolean;
}

/** Answers a hop's promise at most once; the deadline or the node stopping can cut it short. */
type Settle = (err: unknown, res?: HopResult) => void;

const EMPTY = Buffer.alloc(0);

/**
 * One request and its answer through undici's handler interface: no response stream,
 * no promise per chunk, no AbortSignal. The rest of a large answer is not read (the
 * run log keeps 1 KiB): the request is aborted, which closes that connection.
 */
class HopHandler {
  // assigned in the constructor, not as class fields: one per request, so it counts
  private abortFn: ((err?: Error) => void) | null;
  private cancelled: Error | null;
  private status: number;
  private raw: Buffer[] | null;
  private chunks: Buffer[] | null;
  private size: number;
  private settle: Settle | null;

  constructor(settle: Settle) {
    this.abortFn = null;
    this.cancelled = null;
    this.status = 0;
    this.raw = null;
    this.chunks = null;
    this.size = 0;
    this.settle = settle;
  }

  /** Ends the hop now with `err` (deadline, node stopping); the request is aborted as soon as undici lets us. */
  cancel(err: Error) {
    this.cancelled = err;
    this.abortFn?.(err);
    this.end(err);
  }

  private end(err: unknown, truncated = false) {
    const settle = this.settle;
    if (!settle) return;
    this.settle = null;
    if (err && !this.status) return settle(err);
    const chunks = this.chunks;
    const body = !chunks ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    settle(null, {
      status: this.status,
      raw: this.raw,
      body: body.length > RESPONSE_KEEP_BYTES ? body.subarray(0, RESPONSE_KEEP_BYTES) : body,
      // the status line arrived; a body cut short (or the deadline) still has an answer
      truncated: truncated || !!err || body.length > RESPONSE_KEEP_BYTES,
    });
  }

  onConnect(abort: (err?: Error) => void) {
    if (this.cancelled) return abort(this.cancelled);
    this.abortFn = abort;
  }

  onHeaders(status: number, raw: Buffer[]) {
    this.status = status;
    this.raw = raw;
    return true;
  }

  onData(chunk: Buffer) {
    (this.chunks ??= []).push(chunk);
    this.size += chunk.length;
    if (this.size > RESPONSE_KEEP_BYTES) {
      this.end(null, true);
      this.abortFn?.();
      return false;
    }
    return true;
  }

  onComplete() {
    this.end(null);
  }

  onError(err: Error) {
    this.end(err);
  }

  onUpgrade() {}
  onBodySent() {}
}

/** One header of a raw undici header list (names compared without case), or undefined. */
function rawHeader(raw: HopResult['raw'], name: string): string | undefined {
  if (!raw) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (String(raw[i]).toLowerCase() === name) return String(raw[i + 1]);
  }
  return undefined;
}

function hop(transport: Transport, origin: string, path: string, method: string, headers: string[], body: Buffer | string | null, attempt: Attempt): Promise<HopResult> {
  return new Promise<HopResult>((resolve, reject) => {
    const handler = new HopHandler((err, res) => {
      attempt.hop = null;
      if (err) reject(err);
      else resolve(res!);
    });
    attempt.hop = handler;
    transport.pool(origin).dispatch(
      {
        path,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        // the attempt's own deadline governs; undici's defaults are minutes
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      handler as never,
    );
  });
}

/** An attempt in flight: its current hop, so the deadline or a stop can end it. */
class Attempt {
  hop: HopHandler | null;
  timedOut: boolean;
  stopped: boolean;
  /** performance.now() by which the attempt must have its answer */
  readonly deadline: number;
  private readonly timeoutMs: number;
  constructor(deadline: number, timeoutMs: number) {
    this.hop = null;
    this.timedOut = false;
    this.stopped = false;
    this.deadline = deadline;
    this.timeoutMs = timeoutMs;
  }
  timeOut() {
    this.timedOut = true;
    this.cancel(new Error(`timeout after ${this.timeoutMs} ms`));
  }
  cancel(err: Error) {
    this.hop?.cancel(err);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'EPIPE']);

function describeError(err: unknown, timeoutMs: number, timedOut: boolean): AttemptError & { unreachable?: boolean } {
  if (timedOut) return Object.assign(new AttemptError(`timeout after ${timeoutMs} ms`, true), { unreachable: true });
  if (err instanceof AttemptError) return err;
  if (err instanceof BlockedTargetError) return new AttemptError(err.message, false);
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  if (e?.cause instanceof BlockedTargetError) return new AttemptError(e.cause.message, false);
  const code = e.code && !String(e.message).includes(e.code) ? `${e.code}: ` : '';
  return Object.assign(new AttemptError(`${code}${e.message || String(err)}`, true), { unreachable: UNREACHABLE.has(e.code ?? '') });
}

/** 429 and 503 may say when to come back: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Bytes to text that PostgreSQL can store: invalid UTF-8 and NUL become U+FFFD. */
export function storableText(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/\u0000/g, '\ufffd');
}

/** A header list as an object or as flat (name, value, …) pairs, as flat pairs. */
function flatHeaders(h: OutgoingRequest['headers']): string[] {
  if (Array.isArray(h)) return h;
  const out: string[] = [];
  for (const k in h) out.push(k, h[k]!);
  return out;
}

/** Flat header pairs without the names `drop` refuses (compared without case). */
function withoutHeaders(h: string[], drop: (lower: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < h.length; i += 2) if (!drop(h[i]!.toLowerCase())) out.push(h[i]!, h[i + 1]!);
  return out;
}

/** What a URL is made of for sending: parsed once per request (or once per held run), not per attempt. */
export function targetOf(url: URL | string): Target {
  const u = typeof url === 'string' ? new URL(url) : url;
  return { origin: u.origin, path: `${u.pathname}${u.search}`, hostname: u.hostname, protocol: u.protocol, href: u.href };
}

const STOPPED = new Error('node stopping');

export async function sendWebhook(req: OutgoingRequest, opts: SendOptions, transport = sharedTransport(opts.allow, opts.resolve)): Promise<AttemptOutcome> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  // The deadline and the node stopping both end the attempt through the transport's list
  // of attempts in flight (a caller's own signal, if it gives one, too).
  const attempt = new Attempt(t0 + opts.timeoutMs, opts.timeoutMs);
  transport.track(attempt);
  const onStop = opts.signal ? () => ((attempt.stopped = true), attempt.cancel(STOPPED)) : undefined;
  if (onStop) opts.signal!.addEventListener('abort', onStop, { once: true });
  const maxRedirects = opts.maxRedirects ?? 3;
  let target: Target | undefined;
  let method = req.method;
  let body = req.body;
  let headers = flatHeaders(req.headers);
  let onSent = opts.onSent;
  try {
    try {
      target = req.target ?? targetOf(req.url);
    } catch {
      throw new AttemptError(`invalid URL ${JSON.stringify(req.url.slice(0, 200))}`, false);
    }
    for (let hops = 0; ; hops++) {
      if (attempt.stopped || opts.signal?.aborted) throw STOPPED;
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new AttemptError(`redirected to ${target.protocol.replace(/:$/, '')}:, only http and https are followed`, false);
      }
      transport.checkLiteral(target.hostname);
      onSent?.();
      onSent = undefined;
      const res = await hop(transport, target.origin, target.path, method, headers, body, attempt);
      const loc = REDIRECTS.has(res.status) ? rawHeader(res.raw, 'location') : undefined;
      if (loc) {
        if (hops >= maxRedirects) throw new AttemptError(`more than ${maxRedirects} redirects`, false);
        let next: Target;
        try {
          next = targetOf(new URL(loc, target.href));
        } catch {
          throw new AttemptError(`redirected to an invalid URL ${JSON.stringify(loc.slice(0, 200))}`, false);
        }
        // as browsers do: 303 always, and 301/302 after a POST, continue as GET without a body
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          headers = withoutHeaders(headers, (k) => k === 'content-type');
        }
        // the task's own headers (credentials, often) stay with the origin they were meant for
        if (next.origin !== target.origin) headers = withoutHeaders(headers, (k) => req.taskHeaders.includes(k));
        target = next;
        continue;
      }
      const status = res.status;
      const ok = status >= 200 && status < 300;
      const retryable = status === 408 || status === 429 || status >= 500;
      const out: AttemptOutcome = { ok, retryable: !ok && retryable, statusCode: status, durationMs: elapsed() };
      if (!ok && status < 400) out.error = `HTTP ${status} without a usable Location`;
      if (res.body.length) out.response = storableText(res.body);
      if (res.truncated) out.truncated = true;
      if (hops > 0) out.finalUrl = target.href;
      if (retryable) out.retryAfterMs = parseRetryAfter(rawHeader(res.raw, 'retry-after'));
      return out;
    }
  } catch (err) {
    if (err === STOPPED || attempt.stopped || opts.signal?.aborted) return { ok: false, retryable: true, aborted: true, error: 'node stopping: attempt abandoned', durationMs: elapsed() };
    const e = describeError(err, opts.timeoutMs, attempt.timedOut);
    const out: AttemptOutcome = { ok: false, retryable: e.retryable, error: e.message, durationMs: elapsed() };
    if (e.unreachable) out.unreachable = true;
    if (target && target.href !== req.url && target !== req.target) out.finalUrl = target.href;
    return out;
  } finally {
    transport.untrack(attempt);
    if (onStop) opts.signal!.removeEventListener('abort', onStop);
  }
}
