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
  method: string;
  headers: Record<string, string>;
  /** null: no body (GET, or DELETE without one) */
  body: string | null;
  /** header names (lower case) set by the task: not forwarded to another origin on redirect */
  taskHeaders: string[];
}

export interface SendOptions {
  timeoutMs: number;
  allow: AllowList;
  maxRedirects?: number;
  /** aborts the attempt (the node is stopping) */
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
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  truncated: boolean;
}

async function hop(transport: Transport, url: URL, method: string, headers: Record<string, string>, body: string | null, signal: AbortSignal, onSent?: () => void): Promise<HopResult> {
  onSent?.();
  const res = await transport.pool(url.origin).request({
    path: `${url.pathname}${url.search}`,
    method: method as Dispatcher.HttpMethod,
    headers,
    body: body ?? undefined,
    signal,
    // the attempt's own deadline (the signal) governs; undici's defaults are minutes
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  // Read with plain events (an async iterator costs several promises a chunk); the rest
  // of a large answer is not read: the run log keeps 1 KiB.
  const chunks: Buffer[] = [];
  const truncated = await new Promise<boolean>((resolve) => {
    let size = 0;
    const body = res.body;
    body.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > RESPONSE_KEEP_BYTES) {
        body.destroy();
        resolve(true);
      }
    });
    body.on('end', () => resolve(false));
    // the status line arrived; a body cut short (or the deadline) still has an answer
    body.on('error', () => resolve(true));
    body.on('close', () => resolve(false));
  });
  const all = Buffer.concat(chunks);
  return { status: res.statusCode, headers: res.headers, body: all.subarray(0, RESPONSE_KEEP_BYTES), truncated: truncated || all.length > RESPONSE_KEEP_BYTES };
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

export async function sendWebhook(req: OutgoingRequest, opts: SendOptions, transport = sharedTransport(opts.allow, opts.resolve)): Promise<AttemptOutcome> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  // One controller per attempt, aborted by its deadline or by the node stopping (a
  // listener, not AbortSignal.any: that costs several times more per request).
  const timeout = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), timeout.abort()), opts.timeoutMs);
  const onStop = () => timeout.abort();
  opts.signal?.addEventListener('abort', onStop, { once: true });
  const signal = timeout.signal;
  const maxRedirects = opts.maxRedirects ?? 3;
  let url = new URL(req.url);
  let method = req.method;
  let body = req.body;
  let headers = { ...req.headers };
  let onSent = opts.onSent;
  try {
    for (let hops = 0; ; hops++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new AttemptError(`redirected to ${url.protocol.replace(/:$/, '')}:, only http and https are followed`, false);
      }
      transport.checkLiteral(url.hostname);
      const res = await hop(transport, url, method, headers, body, signal, onSent);
      onSent = undefined;
      const location = res.headers.location;
      const loc = Array.isArray(location) ? location[0] : location;
      if (REDIRECTS.has(res.status) && loc) {
        if (hops >= maxRedirects) throw new AttemptError(`more than ${maxRedirects} redirects`, false);
        let next: URL;
        try {
          next = new URL(loc, url);
        } catch {
          throw new AttemptError(`redirected to an invalid URL ${JSON.stringify(loc.slice(0, 200))}`, false);
        }
        // as browsers do: 303 always, and 301/302 after a POST, continue as GET without a body
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-type'));
        }
        // the task's own headers (credentials, often) stay with the origin they were meant for
        if (next.origin !== url.origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !req.taskHeaders.includes(k.toLowerCase())));
        }
        url = next;
        continue;
      }
      const ok = res.status >= 200 && res.status < 300;
      const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      return {
        ok,
        retryable: !ok && retryable,
        statusCode: res.status,
        ...(ok || res.status >= 400 ? {} : { error: `HTTP ${res.status} without a usable Location` }),
        response: storableText(res.body),
        ...(res.truncated ? { truncated: true } : {}),
        ...(hops > 0 ? { finalUrl: url.href } : {}),
        ...(retryable ? { retryAfterMs: parseRetryAfter(res.headers['retry-after']) } : {}),
        durationMs: elapsed(),
      };
    }
  } catch (err) {
    if (opts.signal?.aborted) return { ok: false, retryable: true, aborted: true, error: 'node stopping: attempt abandoned', durationMs: elapsed() };
    const e = describeError(err, opts.timeoutMs, timedOut);
    return {
      ok: false,
      retryable: e.retryable,
      ...(e.unreachable ? { unreachable: true } : {}),
      error: e.message,
      ...(url.href !== req.url ? { finalUrl: url.href } : {}),
      durationMs: elapsed(),
    };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onStop);
  }
}
