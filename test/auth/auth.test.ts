// Who may call what: 401 without a valid token, 403 for a read-only token that writes,
// open health checks and documentation, the event stream's URL token, rate limits,
// security headers, and the token a node generates when it listens beyond loopback.
import { createHash } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.js';
import type { Task } from '../../src/shared/schemas.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, startNode } from '../support/node.js';

const ADMIN = 'admin-token-0123456789abcdef';
const ADMIN2 = 'second-admin-token-for-rotation';
const READ = 'read-token-0123456789abcdef';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const later = () => new Date(Date.now() + 3_600_000).toISOString();

let t: TestApp;
let taskId: string;
beforeAll(async () => {
  t = await startTestApp({ auth: { apiTokens: [ADMIN, ADMIN2], readTokens: [READ], rateLimitPerMinute: 0 } });
  const res = await api<Task>(t.url, 'POST', '/api/tasks', {
    name: 'seed', schedule: { type: 'once', at: later() },
    action: { type: 'webhook', url: 'https://hooks.example.com/x', headers: { Authorization: 'Bearer receiver-secret', 'X-Plain': 'shown to admins' } },
  }, bearer(ADMIN));
  expect(res.status).toBe(201);
  taskId = res.body.id;
});
afterAll(async () => {
  await t?.stop();
});

const counts = async () => (await t.app.sql`select (select count(*) from tasks)::int as tasks, (select count(*) from runs)::int as runs, (select sum(version) from tasks)::int as versions`)[0];

describe('with tokens configured', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', '/api/tasks'],
    ['POST', '/api/tasks', { name: 'x', schedule: { type: 'once', at: later() } }],
    ['GET', '/api/tasks/00000000-0000-4000-8000-000000000000'],
    ['PATCH', '/api/tasks/00000000-0000-4000-8000-000000000000', { name: 'y' }],
    ['DELETE', '/api/tasks/00000000-0000-4000-8000-000000000000'],
    ['POST', '/api/tasks/00000000-0000-4000-8000-000000000000/trigger'],
    ['GET', '/api/runs'],
    ['GET', '/api/schedules/preview?expression=*+*+*+*+*'],
    ['GET', '/api/cluster'],
    ['GET', '/api/stats'],
    ['GET', '/api/events'],
    ['GET', '/api/webhooks/signing-secrets'],
    ['GET', '/api/no-such-route'],
  ];

  it('every /api route answers 401 without a token, with a WWW-Authenticate challenge, and stores nothing', async () => {
    const before = await counts();
    for (const [method, path, body] of routes) {
      for (const headers of [{}, bearer('wrong-token-wrong-token'), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: 'Bearer' }]) {
        const res = await api(t.url, method, path, body, headers);
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="sundial"');
      }
    }
    expect(await counts()).toEqual(before);
  });

  it('an unauthenticated body is not even read: 401, not 413', async () => {
    const res = await fetch(`${t.url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(5_000_000) });
    expect(res.status).toBe(401);
  });

  it('admin tokens (any of the list) may do everything', async () => {
    for (const token of [ADMIN, ADMIN2]) {
      const created = await api<Task>(t.url, 'POST', '/api/tasks', { name: 'by admin', schedule: { type: 'once', at: later() } }, bearer(token));
      expect(created.status).toBe(201);
      expect((await api(t.url, 'PATCH', `/api/tasks/${created.body.id}`, { name: 'edited' }, bearer(token))).status).toBe(200);
      expect((await api(t.url, 'POST', `/api/tasks/${created.body.id}/trigger`, undefined, bearer(token))).status).toBe(202);
      expect((await api(t.url, 'DELETE', `/api/tasks/${created.body.id}`, undefined, bearer(token))).status).toBe(204);
    }
    const got = await api<Task>(t.url, 'GET', `/api/tasks/${taskId}`, undefined, bearer(ADMIN));
    expect(got.body.action).toMatchObject({ headers: { Authorization: 'Bearer receiver-secret', 'X-Plain': 'shown to admins' } });
    const secrets = await api(t.url, 'GET', '/api/webhooks/signing-secrets', undefined, bearer(ADMIN));
    expect(secrets.status).toBe(200);
  });

  it('a read-only token reads (webhook header values redacted) and gets 403 for anything that writes', async () => {
    for (const path of ['/api/tasks', `/api/tasks/${taskId}`, '/api/runs', '/api/cluster', '/api/stats', '/api/schedules/preview?expression=*+*+*+*+*']) {
      const res = await api(t.url, 'GET', path, undefined, bearer(READ));
      expect(res.status, path).toBe(200);
    }
    const preview = await api(t.url, 'POST', '/api/schedules/preview', { expression: '0 9 * * *' }, bearer(READ));
    expect(preview.status).toBe(200);
    const got = await api<Task>(t.url, 'GET', `/api/tasks/${taskId}`, undefined, bearer(READ));
    expect(got.body.action).toMatchObject({ headers: { Authorization: '[redacted]', 'X-Plain': '[redacted]' }, url: 'https://hooks.example.com/x' });
    const list = await api<{ items: Task[] }>(t.url, 'GET', '/api/tasks', undefined, bearer(READ));
    expect(JSON.stringify(list.body)).not.toContain('receiver-secret');

    const before = await counts();
    const writes: [string, string, unknown?][] = [
      ['POST', '/api/tasks', { name: 'x', schedule: { type: 'once', at: later() } }],
      ['PATCH', `/api/tasks/${taskId}`, { name: 'hijacked' }],
      ['DELETE', `/api/tasks/${taskId}`],
      ['POST', `/api/tasks/${taskId}/pause`],
      ['POST', `/api/tasks/${taskId}/trigger`],
    ];
    for (const [method, path, body] of writes) {
      const res = await api(t.url, method, path, body, bearer(READ));
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    expect((await api(t.url, 'GET', '/api/webhooks/signing-secrets', undefined, bearer(READ))).status).toBe(403);
    expect(await counts()).toEqual(before);
  });

  it('the event stream takes the token in the URL (EventSource cannot send headers); no other route does', async () => {
    for (const token of [ADMIN, READ]) {
      const ctl = new AbortController();
      const res = await fetch(`${t.url}/api/events?access_token=${token}`, { signal: ctl.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toContain('event: hello');
      ctl.abort();
    }
    expect((await fetch(`${t.url}/api/events?access_token=nope-nope-nope-nope`)).status).toBe(401);
    expect((await fetch(`${t.url}/api/tasks?access_token=${ADMIN}`)).status).toBe(401);
  });

  it('health checks, the UI and the API documentation stay open; /metrics too unless asked', async () => {
    for (const path of ['/healthz', '/readyz', '/api/openapi.json', '/api/docs', '/metrics', '/']) {
      const res = await fetch(t.url + path, { redirect: 'manual' });
      expect(res.status, path).toBeLessThan(400);
    }
    const doc = await (await fetch(`${t.url}/api/openapi.json`)).json();
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('metrics protection', () => {
  it('SUNDIAL_METRICS_AUTH=true: /metrics needs a token (read-only is enough)', async () => {
    const m = await startTestApp({ auth: { apiTokens: [ADMIN], readTokens: [READ], metricsAuth: true } });
    try {
      expect((await fetch(`${m.url}/metrics`)).status).toBe(401);
      const ok = await fetch(`${m.url}/metrics`, { headers: bearer(READ) });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('sundial_runs_total');
      expect((await fetch(`${m.url}/healthz`)).status).toBe(200);
    } finally {
      await m.stop();
    }
  });
});

describe('open on loopback (no token)', () => {
  let o: TestApp;
  beforeAll(async () => {
    o = await startTestApp({ auth: { rateLimitPerMinute: 0 } });
  });
  afterAll(async () => {
    await o?.stop();
  });

  it('answers requests addressed to localhost, refuses other Host names (DNS rebinding)', async () => {
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:9', '[::1]:8080']) {
      const res = await o.app.http.inject({ method: 'GET', url: '/api/cluster', headers: { host } });
      expect(res.statusCode, host).toBe(200);
    }
    for (const host of ['attacker.example', 'attacker.example:8080', '127.0.0.1.nip.io']) {
      const res = await o.app.http.inject({ method: 'GET', url: '/api/cluster', headers: { host } });
      expect(res.statusCode, host).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    }
    // health checks answer any Host (load balancers, Kubernetes)
    expect((await o.app.http.inject({ method: 'GET', url: '/healthz', headers: { host: 'attacker.example' } })).statusCode).toBe(200);
  });

  it('rate-limits each client: 429 RATE_LIMITED with Retry-After; health checks are not counted', async () => {
    const r = await startTestApp({ auth: { rateLimitPerMinute: 5 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await fetch(`${r.url}/api/stats`)).status);
      expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
      const res = await fetch(`${r.url}/api/stats`);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = await res.json();
      expect(body.error.code).toBe('RATE_LIMITED');
      for (let i = 0; i < 10; i++) expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
    } finally {
      await r.stop();
    }
  });
});

describe('rate limits per token', () => {
  it('each token has its own budget', async () => {
    const r = await startTestApp({ auth: { apiTokens: [ADMIN], readTokens: [READ], rateLimitPerMinute: 3 } });
    try {
      const statuses = async (token: string) => {
        const out: number[] = [];
        for (let i = 0; i < 4; i++) out.push((await fetch(`${r.url}/api/stats`, { headers: bearer(token) })).status);
        return out;
      };
      expect(await statuses(ADMIN)).toEqual([200, 200, 200, 429]);
      expect(await statuses(READ)).toEqual([200, 200, 200, 429]);
    } finally {
      await r.stop();
    }
  });
});

describe('security headers', () => {
  it('the UI and the API answer with a CSP without inline scripts, frame-ancestors none and nosniff', async () => {
    for (const path of ['/', '/tasks', '/api/tasks', '/api/docs/']) {
      const res = await fetch(t.url + path, { headers: bearer(ADMIN) });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("object-src 'none'");
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });
});

describe('configuration', () => {
  it('refuses short tokens and secrets, and malformed allow-lists', () => {
    expect(() => loadConfig([], { SUNDIAL_API_TOKEN: 'short' })).toThrow(/at least 16/);
    expect(() => loadConfig([], { SUNDIAL_READ_TOKEN: 'long-enough-token-here,short' })).toThrow(/at least 16/);
    expect(() => loadConfig([], { SUNDIAL_WEBHOOK_SECRETS: 'short' })).toThrow(/at least 16/);
    expect(() => loadConfig([], { SUNDIAL_WEBHOOK_ALLOW: '10.0.0.0/99' })).toThrow(/SUNDIAL_WEBHOOK_ALLOW/);
    expect(() => loadConfig([], { SUNDIAL_INSECURE_NO_AUTH: 'maybe' })).toThrow(/true or false/);
    const c = loadConfig(['--insecure-no-auth'], { SUNDIAL_API_TOKEN: `${ADMIN}, ${ADMIN2}`, SUNDIAL_RATE_LIMIT_PER_MINUTE: '0' });
    expect(c.auth).toMatchObject({ apiTokens: [ADMIN, ADMIN2], insecureNoAuth: true, rateLimitPerMinute: 0 });
  });
});

describe('a node listening beyond loopback', () => {
  const tokenIn = (logs: string[]) => logs.map((l) => /^\s+(sdl_[A-Za-z0-9_-]{43})\s*$/.exec(l)?.[1]).find(Boolean);

  it('generates an admin token on first start, prints it once, requires it on every node; --insecure-no-auth opts out', async () => {
    const first = await startNode({ env: { HOST: '0.0.0.0' } });
    let second: Awaited<ReturnType<typeof startNode>> | undefined;
    let third: Awaited<ReturnType<typeof startNode>> | undefined;
    try {
      const token = tokenIn(first.logs);
      expect(token, first.logs.join('\n')).toBeDefined();
      // the database keeps only the hash
      const pg = postgres(first.databaseUrl, { max: 1 });
      const rows = await pg`select name, scope, encode(token_sha256, 'hex') as h from api_tokens`;
      await pg.end();
      expect(rows).toEqual([{ name: 'generated-admin', scope: 'admin', h: createHash('sha256').update(token!).digest('hex') }]);
      expect((await api(first.url, 'GET', '/api/tasks')).status).toBe(401);
      expect((await api(first.url, 'GET', '/api/tasks', undefined, bearer(token!))).status).toBe(200);
      // a second node of the cluster prints nothing and accepts the same token
      second = await startNode({ databaseUrl: first.databaseUrl, env: { HOST: '0.0.0.0' } });
      expect(tokenIn(second.logs)).toBeUndefined();
      expect((await api(second.url, 'GET', '/api/tasks')).status).toBe(401);
      expect((await api(second.url, 'GET', '/api/tasks', undefined, bearer(token!))).status).toBe(200);
      // the operator's explicit opt-out
      third = await startNode({ databaseUrl: first.databaseUrl, env: { HOST: '0.0.0.0', SUNDIAL_INSECURE_NO_AUTH: 'true' } });
      expect((await api(third.url, 'GET', '/api/tasks')).status).toBe(200);
      expect(third.logs.join('\n')).toContain('API OPEN TO THE NETWORK');
    } finally {
      await Promise.all([first.stop(), second?.stop(), third?.stop()]);
    }
  });
});
