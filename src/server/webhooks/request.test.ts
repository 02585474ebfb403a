import { describe, expect, it } from 'vitest';
import type { WebhookAction } from '../../shared/schemas.js';
import { prepareRequest, requestOf, signAhead } from './request.js';
import { verifySignature } from './signature.js';

const ctx = { taskId: 't1', taskName: 'n', scheduledFor: new Date('2026-01-01T00:00:00.500Z'), runId: '7', attempt: 1, trigger: 'schedule' as const, payload: { a: 1 } };
const secrets = ['new-secret', 'old-secret'];
const T = Math.floor(ctx.scheduledFor.getTime() / 1000);

function headerOf(h: string[] | Record<string, string>, name: string) {
  const flat = Array.isArray(h) ? h : Object.entries(h).flat();
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) return flat[i + 1];
  return undefined;
}

describe('a request prepared ahead', () => {
  it('is signed for the second it is sent in, inside and outside the seconds signed ahead', () => {
    const action: WebhookAction = { type: 'webhook', url: 'http://example.test/hook?x=1' };
    const p = prepareRequest(action, ctx, { userAgent: 'Sundial/test' });
    signAhead(p, secrets, T, 3);
    for (const sent of [T - 1, T, T + 1, T + 2, T + 3, T + 60]) {
      const req = requestOf(p, 1, secrets, sent);
      const sig = headerOf(req.headers, 'sundial-signature')!;
      expect(sig.startsWith(`t=${sent},v1=`)).toBe(true);
      expect(sig.split(',v1=')).toHaveLength(3); // one entry per secret
      for (const s of secrets) expect(verifySignature(sig, req.body!.toString('utf8'), [s], { nowSec: sent })).toBe(true);
      expect(verifySignature(sig, req.body!.toString('utf8'), ['another'], { nowSec: sent })).toBe(false);
    }
  });

  it('adds the attempt and signature last, after the task headers, which cannot replace them', () => {
    const action: WebhookAction = { type: 'webhook', url: 'http://example.test/hook', headers: { 'X-Token': 'abc', 'Sundial-Attempt': '99', 'User-Agent': 'mine' } };
    const p = prepareRequest(action, ctx, { userAgent: 'Sundial/test' });
    const req = requestOf(p, 2, secrets, T);
    const h = req.headers as string[];
    const names = h.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.slice(-2)).toEqual(['sundial-attempt', 'sundial-signature']);
    expect(names.filter((n) => n === 'sundial-attempt')).toHaveLength(1);
    expect(headerOf(h, 'sundial-attempt')).toBe('2');
    expect(headerOf(h, 'user-agent')).toBe('mine');
    expect(headerOf(h, 'x-token')).toBe('abc');
    expect(headerOf(h, 'idempotency-key')).toBe(`t1:${ctx.scheduledFor.toISOString()}`);
    expect(JSON.parse(req.body!.toString('utf8'))).toMatchObject({ taskId: 't1', attempt: 1, payload: { a: 1 } });
    expect(req.target).toMatchObject({ origin: 'http://example.test', path: '/hook', hostname: 'example.test' });
  });

  it('keeps an invalid URL for the attempt to report', () => {
    const p = prepareRequest({ type: 'webhook', url: 'not a url' } as WebhookAction, ctx, { userAgent: 'Sundial/test' });
    expect(p.target).toBeNull();
    expect(requestOf(p, 1, secrets, T).url).toBe('not a url');
  });
});

describe('sending a request whose URL does not parse', () => {
  it('fails the attempt without retrying', async () => {
    const { sendWebhook } = await import('./http.js');
    const { EMPTY_ALLOW_LIST } = await import('./ssrf.js');
    const out = await sendWebhook({ url: 'not a url', method: 'POST', headers: [], body: null, taskHeaders: [] }, { timeoutMs: 1000, allow: EMPTY_ALLOW_LIST });
    expect(out).toMatchObject({ ok: false, retryable: false, error: 'invalid URL "not a url"' });
  });
});
