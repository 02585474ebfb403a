// What a webhook attempt sends: the task's URL, method and headers, the body (the
// task's own, or the default envelope), and the headers receivers rely on:
//   Idempotency-Key   <taskId>:<scheduledFor ISO>, the same for every attempt and every
//                     node that delivers this occurrence: a receiver dedupes on it
//   Sundial-Signature t=<unix seconds>,v1=<hex>[,v1=<hex>] (signature.ts)
//   Sundial-Run-Id, Sundial-Attempt, User-Agent: Sundial/<version>
import type { WebhookAction } from '../../shared/schemas.js';
import { targetOf, type OutgoingRequest, type Target } from './http.js';
import { SIGNATURE_HEADER, sign, signatureHeader } from './signature.js';

export interface DeliveryContext {
  taskId: string;
  taskName: string;
  scheduledFor: Date;
  runId: string;
  /** delivery attempt, from 1 */
  attempt: number;
  trigger: 'schedule' | 'manual';
  payload: unknown;
  /** a redrive sends the key of the occurrence it retries; null: this occurrence's own */
  idempotencyKey?: string | null;
}

export function idempotencyKey(taskId: string, scheduledFor: Date): string {
  return `${taskId}:${scheduledFor.toISOString()}`;
}

export function defaultBody(ctx: DeliveryContext): string {
  return JSON.stringify({
    taskId: ctx.taskId,
    taskName: ctx.taskName,
    scheduledFor: ctx.scheduledFor.toISOString(),
    runId: ctx.runId,
    attempt: ctx.attempt,
    trigger: ctx.trigger,
    payload: ctx.payload ?? null,
  });
}

/**
 * Everything of an attempt's request that does not depend on when it is sent: the
 * parsed URL, the body's bytes and the headers but the attempt's own two. A held run
 * gets one before its instant (the deliverer's `prepare`), so the send itself costs a
 * signature and a header list.
 */
export interface PreparedRequest {
  url: string;
  target: Target | null;
  method: string;
  body: Buffer | null;
  /** flat (name, value, …) pairs, without Sundial-Attempt and Sundial-Signature */
  headers: string[];
  taskHeaders: string[];
  /** the attempt number the body was made for (the default envelope names it) */
  attempt: number;
  /**
   * Signatures made ahead, as one string of hex digests (64 characters each, one per
   * secret, second after second from `signedFrom`): a held run costs one flat string,
   * not an object and a string per signature.
   */
  signedFrom: number;
  signedSeconds: number;
  signed: string | null;
}

const ATTEMPT = 'sundial-attempt';
const SIGNATURE = SIGNATURE_HEADER.toLowerCase();

export function prepareRequest(action: WebhookAction, ctx: DeliveryContext, opts: { userAgent: string }): PreparedRequest {
  const method = action.method ?? 'POST';
  const taskHeaders = action.headers ?? {};
  const hasOwnType = Object.keys(taskHeaders).some((k) => k.toLowerCase() === 'content-type');
  let body: string | null;
  if (method === 'GET') body = null;
  else if (action.body === undefined) body = method === 'DELETE' ? null : defaultBody(ctx);
  // a string with the task's own Content-Type is sent as is (a form, plain text, XML)
  else if (typeof action.body === 'string' && hasOwnType) body = action.body;
  else body = JSON.stringify(action.body);
  // header names are case-insensitive: a later value replaces an earlier one whatever its case
  const named = new Map<string, [string, string]>();
  const set = (name: string, value: string) => {
    const lower = name.toLowerCase();
    named.delete(lower);
    named.set(lower, [name, value]);
  };
  set('user-agent', opts.userAgent);
  if (body !== null && !hasOwnType) set('content-type', 'application/json');
  for (const [k, v] of Object.entries(taskHeaders)) set(k, v);
  set('idempotency-key', ctx.idempotencyKey ?? idempotencyKey(ctx.taskId, ctx.scheduledFor));
  set('sundial-run-id', ctx.runId);
  // set per attempt, last
  named.delete(ATTEMPT);
  named.delete(SIGNATURE);
  const headers: string[] = [];
  for (const [name, value] of named.values()) headers.push(name, value);
  const taskNames = Object.keys(taskHeaders);
  return {
    url: action.url,
    target: sharedTarget(action.url),
    method,
    body: body === null ? null : Buffer.from(body),
    headers,
    taskHeaders: taskNames.length ? taskNames.map((k) => k.toLowerCase()) : NO_NAMES,
    attempt: ctx.attempt,
    signedFrom: 0,
    signedSeconds: 0,
    signed: null,
  };
}

const NO_NAMES: string[] = [];
// Many held runs share a URL (one receiver, many tasks): one parsed copy each, read only.
const targets = new Map<string, Target | null>();
function sharedTarget(url: string): Target | null {
  let t = targets.get(url);
  if (t === undefined) {
    try {
      t = Object.freeze(targetOf(url));
    } catch {
      t = null; // sent as is: the attempt reports the invalid URL
    }
    if (targets.size >= 10_000) targets.clear();
    targets.set(url, t);
  }
  return t;
}

/** Signs ahead for `seconds` unix seconds from `from` (a held run: its instant's second and the next ones). */
export function signAhead(p: PreparedRequest, secrets: readonly string[], from: number, seconds: number): void {
  const digests: string[] = [];
  for (let k = 0; k < seconds; k++) for (const secret of secrets) digests.push(sign(secret, from + k, p.body ?? ''));
  p.signedFrom = from;
  p.signedSeconds = seconds;
  p.signed = digests.join('');
}

function signedAhead(p: PreparedRequest, secrets: readonly string[], t: number): string | undefined {
  const k = t - p.signedFrom;
  if (!p.signed || k < 0 || k >= p.signedSeconds || !secrets.length) return undefined;
  let out = `t=${t}`;
  for (let j = 0, at = k * secrets.length * 64; j < secrets.length; j++, at += 64) out += `,v1=${p.signed.slice(at, at + 64)}`;
  return out;
}

/** The request of one attempt, sent in the unix second `nowSec`. */
export function requestOf(p: PreparedRequest, attempt: number, secrets: readonly string[], nowSec: number): OutgoingRequest {
  const signature = signedAhead(p, secrets, nowSec) ?? signatureHeader(secrets, p.body ?? '', nowSec);
  const headers = p.headers.slice();
  headers.push(ATTEMPT, String(attempt), SIGNATURE, signature);
  return { url: p.url, target: p.target ?? undefined, method: p.method, headers, body: p.body, taskHeaders: p.taskHeaders };
}

export function buildRequest(
  action: WebhookAction,
  ctx: DeliveryContext,
  opts: { secrets: readonly string[]; nowSec: number; userAgent: string },
): OutgoingRequest {
  return requestOf(prepareRequest(action, ctx, opts), ctx.attempt, opts.secrets, opts.nowSec);
}
