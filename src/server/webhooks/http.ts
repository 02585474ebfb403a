// One webhook attempt: an HTTP request through the SSRF guard, following at most
// `maxRedirects` redirects (each hop checked again), with one deadline for the whole
// attempt, reading at most 1 KiB of the answer. It never throws: the outcome says
// whether it worked, and whether trying again could help.
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { BlockedTargetError, checkLiteral, guardedLookup, type AllowList, type LookupFn } from './ssrf.js';

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
}

export interface AttemptOutcome {
  ok: boolean;
  /** worth another attempt: network error, timeout, 408, 429, 5xx */
  retryable: boolean;
  /** the node stopped mid-attempt; the outcome is unknown */
  aborted?: boolean;
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

class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

interface HopResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  truncated: boolean;
}

function hop(url: URL, method: string, headers: Record<string, string>, body: string | null, signal: AbortSignal, lookup: ReturnType<typeof guardedLookup>): Promise<HopResult> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers: body === null ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        // a fresh connection per attempt: a pooled socket would skip the guarded lookup
        agent: false,
        lookup: lookup as never,
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let done = false;
        const finish = (truncated: boolean) => {
          if (done) return;
          done = true;
          const all = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all.subarray(0, RESPONSE_KEEP_BYTES), truncated: truncated || all.length > RESPONSE_KEEP_BYTES });
          res.destroy();
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          // the rest of a large answer is not read: the run log keeps 1 KiB
          if (size > RESPONSE_KEEP_BYTES) finish(true);
        });
        res.on('end', () => finish(false));
        // the status line arrived; a body cut short (or the deadline) still has an answer
        res.on('error', () => finish(true));
        res.on('close', () => finish(!res.complete));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

function describeError(err: unknown, timeoutMs: number, timedOut: boolean): AttemptError {
  if (timedOut) return new AttemptError(`timeout after ${timeoutMs} ms`, true);
  if (err instanceof AttemptError) return err;
  if (err instanceof BlockedTargetError) return new AttemptError(err.message, false);
  const e = err as NodeJS.ErrnoException;
  const code = e.code && !String(e.message).includes(e.code) ? `${e.code}: ` : '';
  return new AttemptError(`${code}${e.message || String(err)}`, true);
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

export async function sendWebhook(req: OutgoingRequest, opts: SendOptions): Promise<AttemptOutcome> {
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
  const lookup = guardedLookup(opts.allow, opts.resolve);
  const maxRedirects = opts.maxRedirects ?? 3;
  let url = new URL(req.url);
  let method = req.method;
  let body = req.body;
  let headers = { ...req.headers };
  try {
    for (let hops = 0; ; hops++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new AttemptError(`redirected to ${url.protocol.replace(/:$/, '')}:, only http and https are followed`, false);
      }
      checkLiteral(url.hostname, opts.allow);
      const res = await hop(url, method, headers, body, signal, lookup);
      const location = res.headers.location;
      if (REDIRECTS.has(res.status) && location) {
        if (hops >= maxRedirects) throw new AttemptError(`more than ${maxRedirects} redirects`, false);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new AttemptError(`redirected to an invalid URL ${JSON.stringify(location.slice(0, 200))}`, false);
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
    const e = describeError(err, opts.timeoutMs, timeout.signal.aborted);
    return { ok: false, retryable: e.retryable, error: e.message, ...(url.href !== req.url ? { finalUrl: url.href } : {}), durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
  }
}
