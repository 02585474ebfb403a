// What a webhook attempt sends: the task's URL, method and headers, the body (the
// task's own, or the default envelope), and the headers receivers rely on:
//   Idempotency-Key   <taskId>:<scheduledFor ISO>, the same for every attempt and every
//                     node that delivers this occurrence: a receiver dedupes on it
//   Sundial-Signature t=<unix seconds>,v1=<hex>[,v1=<hex>] (signature.ts)
//   Sundial-Run-Id, Sundial-Attempt, User-Agent: Sundial/<version>
import type { WebhookAction } from '../../shared/schemas.js';
import type { OutgoingRequest } from './http.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

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

export function buildRequest(
  action: WebhookAction,
  ctx: DeliveryContext,
  opts: { secrets: readonly string[]; nowSec: number; userAgent: string },
): OutgoingRequest {
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
  const headers: Record<string, string> = {};
  const named = new Map<string, string>();
  const set = (name: string, value: string) => {
    const lower = name.toLowerCase();
    const before = named.get(lower);
    if (before !== undefined) delete headers[before];
    headers[name] = value;
    named.set(lower, name);
  };
  set('user-agent', opts.userAgent);
  if (body !== null && !hasOwnType) set('content-type', 'application/json');
  for (const [k, v] of Object.entries(taskHeaders)) set(k, v);
  set('idempotency-key', ctx.idempotencyKey ?? idempotencyKey(ctx.taskId, ctx.scheduledFor));
  set('sundial-run-id', ctx.runId);
  set('sundial-attempt', String(ctx.attempt));
  set(SIGNATURE_HEADER.toLowerCase(), signatureHeader(opts.secrets, body ?? '', opts.nowSec));
  return { url: action.url, method, headers, body, taskHeaders: Object.keys(taskHeaders).map((k) => k.toLowerCase()) };
}
