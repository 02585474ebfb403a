// Webhook delivery end to end: a real node on a real PostgreSQL calls a local receiver
// (127.0.0.1 is opened with the allow-list, as an operator would for an internal host).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../src/shared/schemas.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';
import { startReceiver, type Receiver } from './receiver.js';
import { webhookTasks } from './tasks.js';

const BASE_MS = 200;
const NEW_SECRET = 'whsec_new_0123456789abcdef';
const OLD_SECRET = 'whsec_old_0123456789abcdef';

let t: TestApp;
let rx: Receiver;
beforeAll(async () => {
  rx = await startReceiver();
  t = await startTestApp({
    scheduler: { pollIntervalMs: 200 },
    webhooks: { allow: '127.0.0.1/32', retryBaseMs: BASE_MS, retryMaxMs: 5000, secrets: [NEW_SECRET, OLD_SECRET] },
  });
});
afterAll(async () => {
  await t?.stop();
  await rx?.close();
});

const { soon, createTask, runsOf, finalRun } = webhookTasks(() => t.url);

/** The receiver side of docs/webhooks.md, written from the documentation, not the server code. */
function verify(header: string | undefined, rawBody: string, secrets: string[], toleranceSec = 300): boolean {
  const parts = (header ?? '').split(',').map((p) => p.split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSec) return false;
  const given = parts.filter(([k]) => k === 'v1').map(([, v]) => Buffer.from(v ?? '', 'hex'));
  return secrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
    return given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
  });
}

describe('what a webhook sends', () => {
  it('the default body, the idempotency key, run id, attempt and user agent', async () => {
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/default` }, payload: { to: 'ada', n: [1, 2] } });
    expect(task.action).toEqual({ type: 'webhook', url: `${rx.url}/default`, method: 'POST', timeoutMs: 10_000, maxAttempts: 3 });
    const run = await finalRun(task.id);
    expect(run.status).toBe('succeeded');
    expect(run.reason).toBe('HTTP 200');
    const [req] = rx.on('/default');
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['user-agent']).toMatch(/^Sundial\/\d+\.\d+\.\d+/);
    expect(req!.headers['idempotency-key']).toBe(`${task.id}:${run.scheduledFor}`);
    expect(req!.headers['sundial-run-id']).toBe(run.id);
    expect(req!.headers['sundial-attempt']).toBe('1');
    expect(JSON.parse(req!.body)).toEqual({
      taskId: task.id,
      taskName: 'hook',
      scheduledFor: run.scheduledFor,
      runId: run.id,
      attempt: 1,
      trigger: 'schedule',
      payload: { to: 'ada', n: [1, 2] },
    });
    expect(run.deliveries).toHaveLength(1);
    expect(run.deliveries![0]).toMatchObject({ n: 1, statusCode: 200, response: 'ok', nodeId: t.app.config.nodeId });
    expect(run.deliveries![0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('a custom method, headers and body; a string body with its own content type is sent as is', async () => {
    const json = await createTask({
      action: { type: 'webhook', url: `${rx.url}/custom-json?x=1`, method: 'PUT', headers: { 'X-Team': 'ops', Authorization: 'Bearer abc' }, body: { hello: 'wörld ✓' } },
    });
    const form = await createTask({
      action: { type: 'webhook', url: `${rx.url}/custom-form`, method: 'PATCH', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=two' },
    });
    await finalRun(json.id);
    await finalRun(form.id);
    const [j] = rx.on('/custom-json');
    expect(j!.method).toBe('PUT');
    expect(j!.url).toBe('/custom-json?x=1');
    expect(j!.headers['x-team']).toBe('ops');
    expect(j!.headers.authorization).toBe('Bearer abc');
    expect(j!.body).toBe(JSON.stringify({ hello: 'wörld ✓' }));
    const [f] = rx.on('/custom-form');
    expect(f!.method).toBe('PATCH');
    expect(f!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(f!.body).toBe('a=1&b=two');
  });

  it('GET sends no body; its signature covers the empty string', async () => {
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/get`, method: 'GET' } });
    await finalRun(task.id);
    const [g] = rx.on('/get');
    expect(g!.method).toBe('GET');
    expect(g!.body).toBe('');
    expect(verify(g!.headers['sundial-signature'] as string, '', [NEW_SECRET])).toBe(true);
  });
});

describe('signatures', () => {
  it('a receiver verifies the signature over timestamp and raw body, with either secret during a rotation', async () => {
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/signed` } });
    await finalRun(task.id);
    const [req] = rx.on('/signed');
    const header = req!.headers['sundial-signature'] as string;
    expect(header).toMatch(/^t=\d{10},v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    // both secrets are active: a receiver still on the old one and one already on the new one both accept
    expect(verify(header, req!.body, [NEW_SECRET])).toBe(true);
    expect(verify(header, req!.body, [OLD_SECRET])).toBe(true);
    // a changed body, an unknown secret, a stale timestamp: refused
    expect(verify(header, req!.body.replace('hook', 'hoof'), [NEW_SECRET])).toBe(false);
    expect(verify(header, req!.body, ['whsec_someone_else_entirely'])).toBe(false);
    const t0 = Number(/t=(\d+)/.exec(header)![1]);
    const replayed = header.replace(`t=${t0}`, `t=${t0 - 3600}`);
    expect(verify(replayed, req!.body, [NEW_SECRET])).toBe(false);
  });

  it('admins can read the signing secrets; the generated one is shared by the cluster', async () => {
    const res = await api(t.url, 'GET', '/api/webhooks/signing-secrets');
    expect(res.body).toEqual({ header: 'Sundial-Signature', secrets: [NEW_SECRET, OLD_SECRET] });
    // no secret configured: the first node generates one, stored in PostgreSQL, and a second node signs with it
    const a = await startTestApp();
    const b = await startTestApp({ db: a.db });
    try {
      const sa = (await api(a.url, 'GET', '/api/webhooks/signing-secrets')).body.secrets;
      const sb = (await api(b.url, 'GET', '/api/webhooks/signing-secrets')).body.secrets;
      expect(sa).toHaveLength(1);
      expect(sa[0]).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      expect(sb).toEqual(sa);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});

describe('retries', () => {
  it('retries 5xx with exponential backoff and jitter, recording each attempt', async () => {
    rx.handle('/flaky', (_r, res, n) => res.writeHead(n < 2 ? 503 : 200).end(n < 2 ? `busy ${n}` : 'fine'));
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/flaky` } });
    const run = await finalRun(task.id);
    expect(run.status).toBe('succeeded');
    expect(run.reason).toBe('HTTP 200 on attempt 3');
    expect(run.deliveries!.map((d) => [d.n, d.statusCode, d.response])).toEqual([
      [1, 503, 'busy 0'],
      [2, 503, 'busy 1'],
      [3, 200, 'fine'],
    ]);
    const arrivals = rx.on('/flaky').map((r) => r.at);
    expect(rx.on('/flaky').map((r) => r.headers['sundial-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(rx.on('/flaky').map((r) => r.headers['idempotency-key'])).size).toBe(1);
    // wait before attempt k+1: between half and all of BASE·2^(k-1), plus the request itself
    const gaps = [arrivals[1]! - arrivals[0]!, arrivals[2]! - arrivals[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(BASE_MS / 2 - 5);
    expect(gaps[0]).toBeLessThan(BASE_MS + 250);
    expect(gaps[1]).toBeGreaterThanOrEqual(BASE_MS - 5);
    expect(gaps[1]).toBeLessThan(2 * BASE_MS + 250);
  });

  it('gives up after maxAttempts with the reason; a 4xx is not retried', async () => {
    rx.handle('/down', (_r, res) => res.writeHead(500).end('still down'));
    rx.handle('/gone', (_r, res) => res.writeHead(404).end('no such hook'));
    const down = await createTask({ action: { type: 'webhook', url: `${rx.url}/down`, maxAttempts: 2 } });
    const gone = await createTask({ action: { type: 'webhook', url: `${rx.url}/gone` } });
    const d = await finalRun(down.id);
    expect(d.status).toBe('failed');
    expect(d.reason).toBe('gave up after 2 attempts: HTTP 500');
    expect(d.deliveries!.map((x) => x.statusCode)).toEqual([500, 500]);
    const g = await finalRun(gone.id);
    expect(g.status).toBe('failed');
    expect(g.reason).toBe('HTTP 404 (not retried)');
    expect(g.deliveries).toHaveLength(1);
    expect(g.deliveries![0]!.response).toBe('no such hook');
  });

  it('stops retrying when another node has taken the run over (our lease lapsed)', async () => {
    await t.app.sql`insert into nodes (id, host, pid, version, lease_until) values ('thief', 'x', 1, 'x', now() + interval '1 hour')`;
    rx.handle('/taken', (r, res) => {
      // while the first attempt is in flight, another node takes the run (as the rescuer would)
      void t.app.sql`update runs set attempt = attempt + 1, node_id = 'thief' where id = ${r.headers['sundial-run-id'] as string}`.then(() =>
        res.writeHead(503).end('busy'),
      );
    });
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/taken`, maxAttempts: 5 } });
    await eventually(async () => rx.on('/taken').length === 1 || undefined);
    await new Promise((r) => setTimeout(r, 4 * BASE_MS + 500));
    expect(rx.on('/taken')).toHaveLength(1);
    const [run] = await runsOf(task.id);
    // still open, now the thief's: `pending` if it was taken before our batched "running" mark landed
    expect(['pending', 'running']).toContain(run!.status);
    expect(run!.nodeId).toBe('thief');
  });

  it('429 waits at least as long as Retry-After says', async () => {
    rx.handle('/throttled', (_r, res, n) => (n === 0 ? res.writeHead(429, { 'retry-after': '1' }).end('slow down') : res.writeHead(204).end()));
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/throttled` } });
    const run = await finalRun(task.id);
    expect(run.status).toBe('succeeded');
    const [a, b] = rx.on('/throttled');
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(990);
  });

  it('retries network errors (connection refused)', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const task = await createTask({ action: { type: 'webhook', url: `http://127.0.0.1:${port}/nobody`, maxAttempts: 2 } });
    const run = await finalRun(task.id);
    expect(run.status).toBe('failed');
    expect(run.deliveries).toHaveLength(2);
    expect(run.deliveries![0]!.error).toMatch(/ECONNREFUSED/);
    expect(run.reason).toMatch(/^gave up after 2 attempts: .*ECONNREFUSED/);
  });

  it('times out a receiver that does not answer, per attempt', async () => {
    rx.handle('/hang', () => {
      /* never answers */
    });
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/hang`, timeoutMs: 300, maxAttempts: 2 } });
    const run = await finalRun(task.id);
    expect(run.status).toBe('failed');
    expect(run.reason).toBe('gave up after 2 attempts: timeout after 300 ms');
    for (const d of run.deliveries!) {
      expect(d.error).toBe('timeout after 300 ms');
      expect(d.durationMs).toBeGreaterThanOrEqual(290);
      expect(d.durationMs).toBeLessThan(1500);
    }
  });

  it('keeps the first 1 KiB of a long answer, and stores bytes PostgreSQL would refuse', async () => {
    rx.handle('/long', (_r, res) => res.writeHead(200).end('\u0000' + 'x'.repeat(5000)));
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/long` } });
    const run = await finalRun(task.id);
    expect(run.status).toBe('succeeded');
    expect(run.deliveries![0]!.truncated).toBe(true);
    expect(Buffer.byteLength(run.deliveries![0]!.response!)).toBeLessThanOrEqual(1026);
    expect(run.deliveries![0]!.response!.startsWith('\ufffdxxx')).toBe(true);
  });
});

describe('concurrency', () => {
  it('a run is `running` while it is delivered, and retries do not delay other tasks', async () => {
    rx.handle('/slow', () => {
      /* never answers: each attempt waits for its timeout */
    });
    const slow = await createTask({ action: { type: 'webhook', url: `${rx.url}/slow`, timeoutMs: 2000, maxAttempts: 2 } });
    // other tasks due while the slow one is stuck: a webhook and a log task, both due in 1 s
    const at = soon(1000);
    const quickHook = await createTask({ schedule: { type: 'once', at }, action: { type: 'webhook', url: `${rx.url}/quick` } });
    const quickLog = await createTask({ schedule: { type: 'once', at } });
    const running = await eventually(async () => {
      const [r] = await runsOf(slow.id);
      return r?.status === 'running' ? r : undefined;
    });
    expect(running.startedAt).not.toBeNull();
    const [hookRun, logRun] = [await finalRun(quickHook.id), await finalRun(quickLog.id)];
    expect(hookRun.status).toBe('succeeded');
    expect(logRun.status).toBe('succeeded');
    // fired on time, while the slow webhook is still being attempted
    expect(hookRun.lagMs!).toBeLessThan(500);
    expect(logRun.lagMs!).toBeLessThan(500);
    expect((await runsOf(slow.id))[0]!.status).toBe('running');
    const done = await finalRun(slow.id);
    expect(done.status).toBe('failed');
    expect(new Date(done.finishedAt!).getTime()).toBeGreaterThan(new Date(hookRun.finishedAt!).getTime());
  });

  it('overlap policy skip: an occurrence due while the previous run is in progress is recorded as skipped', async () => {
    rx.handle('/busy-skip', (_r, res) => setTimeout(() => res.writeHead(200).end('done'), 2500));
    rx.handle('/busy-allow', (_r, res) => setTimeout(() => res.writeHead(200).end('done'), 2500));
    const cron = { type: 'cron', expression: '* * * * * *' };
    const skip = await createTask({ schedule: cron, overlapPolicy: 'skip', action: { type: 'webhook', url: `${rx.url}/busy-skip` } });
    const allow = await createTask({ schedule: cron, action: { type: 'webhook', url: `${rx.url}/busy-allow` } });
    expect(skip.overlapPolicy).toBe('skip');
    expect(allow.overlapPolicy).toBe('allow');
    await eventually(async () => (await runsOf(skip.id)).filter((r) => r.status === 'succeeded').length >= 1 || undefined, 20_000);
    await api(t.url, 'POST', `/api/tasks/${skip.id}/pause`);
    await api(t.url, 'POST', `/api/tasks/${allow.id}/pause`);
    const runs = await runsOf(skip.id);
    const skipped = runs.filter((r) => r.status === 'skipped' && r.reason === 'overlap: previous run still in progress');
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    // never two in progress at once: each delivered request arrived after the previous finished
    const arrivals = rx.on('/busy-skip').map((r) => r.at);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(2400);
    // allow: overlapping requests went out every second
    const allowed = rx.on('/busy-allow').map((r) => r.at);
    expect(allowed.length).toBeGreaterThanOrEqual(2);
    expect(allowed[1]! - allowed[0]!).toBeLessThan(2000);
  });
});

describe('create and edit', () => {
  it('PATCH turns a log task into a webhook and back', async () => {
    const task = await createTask({ schedule: { type: 'once', at: soon(3_600_000) } });
    expect(task.action).toEqual({ type: 'log' });
    const hook = await api<Task>(t.url, 'PATCH', `/api/tasks/${task.id}`, { action: { type: 'webhook', url: 'https://hooks.example.com/x', maxAttempts: 5 }, overlapPolicy: 'skip' });
    expect(hook.status).toBe(200);
    expect(hook.body.action).toEqual({ type: 'webhook', url: 'https://hooks.example.com/x', method: 'POST', timeoutMs: 10_000, maxAttempts: 5 });
    expect(hook.body.overlapPolicy).toBe('skip');
    const back = await api<Task>(t.url, 'PATCH', `/api/tasks/${task.id}`, { action: { type: 'log' } });
    expect(back.body.action).toEqual({ type: 'log' });
  });

  it('a rename keeps an occurrence already claimed: it still fires', async () => {
    const task = await createTask({ schedule: { type: 'once', at: soon(1200) }, action: { type: 'webhook', url: `${rx.url}/renamed` } });
    // the occurrence is inside the lookahead (2 s): claimed and held in memory by now
    await eventually(async () => ((await runsOf(task.id)).length ? true : undefined), 5000, 50);
    const res = await api(t.url, 'PATCH', `/api/tasks/${task.id}`, { name: 'renamed' });
    expect(res.status).toBe(200);
    const run = await finalRun(task.id, 10_000);
    expect(run.status).toBe('succeeded');
    expect(JSON.parse(rx.on('/renamed')[0]!.body).taskName).toBe('renamed');
  });

  const invalid: [string, unknown, string, string?][] = [
    ['not http', { type: 'webhook', url: 'ftp://example.com/x' }, 'action.url'],
    ['file URL', { type: 'webhook', url: 'file:///etc/passwd' }, 'action.url'],
    ['relative URL', { type: 'webhook', url: '/hooks/x' }, 'action.url'],
    ['credentials in the URL', { type: 'webhook', url: 'https://user:pw@example.com/' }, 'action.url'],
    ['URL too long', { type: 'webhook', url: `https://example.com/${'a'.repeat(2100)}` }, 'action.url'],
    ['unknown method', { type: 'webhook', url: 'https://example.com/', method: 'TRACE' }, 'action.method'],
    ['Host header', { type: 'webhook', url: 'https://example.com/', headers: { Host: 'internal' } }, 'action.headers.Host'],
    ['Sundial header', { type: 'webhook', url: 'https://example.com/', headers: { 'Sundial-Signature': 'x' } }, 'action.headers.Sundial-Signature'],
    ['hop-by-hop header', { type: 'webhook', url: 'https://example.com/', headers: { 'transfer-encoding': 'chunked' } }, 'action.headers.transfer-encoding'],
    ['header value with a newline', { type: 'webhook', url: 'https://example.com/', headers: { 'X-A': 'a\r\nX-Injected: 1' } }, 'action.headers.X-A'],
    ['header name with a space', { type: 'webhook', url: 'https://example.com/', headers: { 'X A': 'a' } }, 'action.headers'],
    ['too many headers', { type: 'webhook', url: 'https://example.com/', headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-${i}`, 'v'])) }, 'action.headers'],
    ['header value too long', { type: 'webhook', url: 'https://example.com/', headers: { 'X-A': 'v'.repeat(1001) } }, 'action.headers.X-A'],
    ['GET with a body', { type: 'webhook', url: 'https://example.com/', method: 'GET', body: { a: 1 } }, 'action.body'],
    ['timeout too short', { type: 'webhook', url: 'https://example.com/', timeoutMs: 50 }, 'action.timeoutMs'],
    ['too many attempts', { type: 'webhook', url: 'https://example.com/', maxAttempts: 11 }, 'action.maxAttempts'],
    ['unknown action field', { type: 'webhook', url: 'https://example.com/', retries: 3 }, 'action.retries'],
    ['missing url', { type: 'webhook' }, 'action.url'],
    ['unknown action type', { type: 'email', to: 'x' }, 'action.type'],
    ['a private literal IP', { type: 'webhook', url: 'http://10.0.0.7/hook' }, 'action.url'],
    ['the metadata address', { type: 'webhook', url: 'http://169.254.169.254/latest/meta-data/' }, 'action.url'],
  ];
  for (const [title, action, field] of invalid) {
    it(`rejects ${title} (${field})`, async () => {
      const before = (await t.app.sql`select count(*)::int as n from tasks`)[0]!.n;
      const res = await api(t.url, 'POST', '/api/tasks', { name: 'bad', schedule: { type: 'once', at: soon(60_000) }, action });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.field).toBe(field);
      expect((await t.app.sql`select count(*)::int as n from tasks`)[0]!.n).toBe(before);
    });
  }

  it('rejects a bad overlap policy', async () => {
    const res = await api(t.url, 'POST', '/api/tasks', { name: 'bad', schedule: { type: 'once', at: soon(60_000) }, overlapPolicy: 'queue' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('overlapPolicy');
  });
});
