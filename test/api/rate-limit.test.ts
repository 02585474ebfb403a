// The rate limit counts tasks, not requests, and leaves an open loopback node alone.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMIT_PER_MINUTE } from '../../src/server/config.js';
import { startTestApp } from '../support/app.js';

const inFuture = () => new Date(Date.now() + 3_600_000).toISOString();
const batch = (n: number, tag: string) =>
  JSON.stringify({ tasks: Array.from({ length: n }, (_, i) => ({ name: `${tag}${i}`, schedule: { type: 'once', at: inFuture() } })) });

describe('rate limit', () => {
  it('counts a batch by its tasks: 429 with Retry-After when the budget is short, nothing stored', async () => {
    const t = await startTestApp({ auth: { rateLimitPerMinute: 1500 } });
    try {
      const post = (body: string) => fetch(`${t.url}/api/tasks/batch`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body });
      expect((await post(batch(1000, 'a'))).status).toBe(201);
      const refused = await post(batch(1000, 'b'));
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      const [row] = await t.app.sql`select count(*)::int as n from tasks where name like 'b%'`;
      expect(row!.n).toBe(0);
      // what is left still serves small requests
      const small = await fetch(`${t.url}/api/stats`);
      expect(small.status).toBe(200);
      expect(Number(small.headers.get('ratelimit-remaining'))).toBeLessThan(600); // 500 left, plus what refilled meanwhile
    } finally {
      await t.stop();
    }
  });

  it('is off by default on an open loopback node, and on by default with tokens', async () => {
    const t = await startTestApp();
    try {
      const codes = await Promise.all(Array.from({ length: 5 }, () => fetch(`${t.url}/api/tasks/batch`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body: batch(1000, 'o') }).then((r) => r.status)));
      expect(codes).toEqual([201, 201, 201, 201, 201]);
      expect((await fetch(`${t.url}/api/stats`)).headers.get('ratelimit-limit')).toBeNull();
    } finally {
      await t.stop();
    }
    const token = 'a-token-of-sixteen-chars';
    const s = await startTestApp({ auth: { apiTokens: [token] } });
    try {
      const res = await fetch(`${s.url}/api/stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.headers.get('ratelimit-limit')).toBe(String(DEFAULT_RATE_LIMIT_PER_MINUTE));
    } finally {
      await s.stop();
    }
  });
});
