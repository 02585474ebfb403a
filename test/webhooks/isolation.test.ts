// Delivery under pressure, end to end on a real node and real loopback receivers:
// honest start times, per-origin caps and isolation, edits reaching held occurrences,
// the lateness limit, redrives, and the per-origin views.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/shared/schemas.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';
import { startReceiver, type Receiver } from './receiver.js';
import { webhookTasks } from './tasks.js';

const PER_ORIGIN = 4;
let t: TestApp;
let rx: Receiver;
let hung: Receiver;
beforeAll(async () => {
  rx = await startReceiver();
  hung = await startReceiver();
  hung.handle('/', () => {
    /* accepts and never answers */
  });
  t = await startTestApp({
    scheduler: { pollIntervalMs: 200, maxInFlight: 60 },
    webhooks: { allow: '127.0.0.1/32', retryBaseMs: 200, retryMaxMs: 2000, concurrency: 16, originConcurrency: PER_ORIGIN, originRates: '', circuitTripAfter: 1000 },
  });
});
afterAll(async () => {
  await t?.stop();
  await rx?.close();
  await hung?.close();
});

const { soon, createTask, runsOf, finalRun } = webhookTasks(() => t.url);

/** n one-time webhook tasks due at `at`, in one statement (the shape POST /api/tasks stores), named prefix-i. */
async function bulkWebhooks(prefix: string, n: number, at: Date, url: (i: number) => string, extra: Record<string, unknown> = {}) {
  const rows = Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, action: JSON.stringify({ type: 'webhook', url: url(i), ...extra }) }));
  await t.app.sql`
    insert into tasks (name, kind, run_at, next_run_at, state, action)
    select v.name, 'once', ${at}, ${at}, 'active', v.action::jsonb
    from json_to_recordset(${JSON.stringify(rows)}::text::json) as v(name text, action text)`;
  await t.app.sql`select pg_notify('sundial', '{"t":"wake"}')`;
}

async function runsNamed(prefix: string) {
  return t.app.sql<{ name: string; status: string; startedAt: Date | null; scheduledFor: Date; reason: string | null; deliveries: any[] | null }[]>`
    select t.name, r.status, r.started_at, r.scheduled_for, r.reason, r.deliveries
    from runs r join tasks t on t.id = r.task_id where t.name like ${prefix + '-%'}`;
}

describe('start times', () => {
  it('each webhook run starts when its own first request goes out, however long it queued', async () => {
    // 4 slots for this origin and a receiver that takes 100 ms: 80 runs queue for ~2 s
    rx.handle('/queued', (_r, res) => setTimeout(() => res.writeHead(204).end(), 100));
    const at = new Date(Date.now() + 1500);
    await bulkWebhooks('queued', 80, at, (i) => `${rx.url}/queued/${i}`);
    await eventually(async () => rx.on('/queued').length === 80 || undefined);
    const runs = await eventually(async () => {
      const r = await runsNamed('queued');
      return r.length === 80 && r.every((x) => x.status === 'succeeded') ? r : undefined;
    });
    const arrival = new Map(rx.on('/queued').map((r) => [r.url.split('/')[2]!, r.at]));
    const starts = runs.map((r) => r.startedAt!.getTime());
    for (const r of runs) {
      const got = arrival.get(r.name.split('-')[1]!)!;
      const started = r.startedAt!.getTime();
      // taken as the request went out: before its arrival, and close to it (one stamp for
      // the whole fire would be ~2 s before the last arrivals; the bound leaves room for a
      // busy machine)
      // (the node's clock is corrected by its measured offset to PostgreSQL's, within
      // half a heartbeat's round trip: a few ms either way on a busy machine)
      expect(started).toBeLessThanOrEqual(got + 50);
      expect(got - started).toBeLessThan(1000);
    }
    // not one stamp for the whole fire
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThan(1200);
  });

  it('log runs in a large fire each read the clock as they are executed', async () => {
    // a node of its own with the default claim budget: all 3,000 are held and fire in one timer callback
    const own = await startTestApp({ scheduler: { pollIntervalMs: 200 } });
    const at = new Date(Date.now() + 1500);
    const rows = Array.from({ length: 3000 }, (_, i) => ({ name: `logfire-${i}` }));
    await own.app.sql`
      insert into tasks (name, kind, run_at, next_run_at, state)
      select v.name, 'once', ${at}, ${at}, 'active' from json_to_recordset(${JSON.stringify(rows)}::text::json) as v(name text)`;
    await own.app.sql`select pg_notify('sundial', '{"t":"wake"}')`;
    const runs = await eventually(async () => {
      const r = await own.app.sql<{ status: string; startedAt: Date | null }[]>`select status, started_at from runs`;
      return r.length === 3000 && r.every((x) => x.status === 'succeeded') ? r : undefined;
    }).finally(() => own.stop());
    const distinct = new Set(runs.map((r) => r.startedAt!.getTime()));
    // 3,000 runs fired in one timer callback take more than a millisecond: more than one stamp
    expect(distinct.size).toBeGreaterThan(1);
    expect(runs.every((r) => r.startedAt!.getTime() >= at.getTime())).toBe(true);
  });
});

describe('isolation', () => {
  it('the per-origin cap holds (a receiver counting its concurrent requests), and the origin still uses all of it', async () => {
    let open = 0;
    let peak = 0;
    rx.handle('/capped', (_r, res) => {
      open++;
      peak = Math.max(peak, open);
      setTimeout(() => (open--, res.writeHead(204).end()), 40);
    });
    await bulkWebhooks('capped', 60, new Date(Date.now() + 1000), () => `${rx.url}/capped`);
    await eventually(async () => rx.on('/capped').length === 60 || undefined);
    expect(peak).toBeLessThanOrEqual(PER_ORIGIN);
    expect(peak).toBe(PER_ORIGIN);
  });

  it('a hung origin with many due tasks does not make another origin\'s deliveries fail or wait', async () => {
    const at = new Date(Date.now() + 1500);
    // more hung tasks than the node's claim budget (60): a backed-up origin must not stop claiming for the others
    await bulkWebhooks('stuck', 100, at, () => `${hung.url}/stuck`, { timeoutMs: 3000, maxAttempts: 2 });
    await bulkWebhooks('healthy', 100, new Date(at.getTime() + 500), (i) => `${rx.url}/healthy/${i}`);
    await eventually(async () => rx.on('/healthy').length === 100 || undefined, 20_000);
    const runs = await eventually(async () => {
      const r = await runsNamed('healthy');
      return r.length === 100 && r.every((x) => x.status === 'succeeded') ? r : undefined;
    });
    const lags = runs.map((r) => r.startedAt!.getTime() - r.scheduledFor.getTime());
    // generous: on time means within a couple of seconds here, while the hung origin holds its 4 slots for 3 s per attempt
    expect(Math.max(...lags)).toBeLessThan(2500);
    // the hung origin never got more than its cap
    expect(hung.on('/stuck').length).toBeLessThanOrEqual(PER_ORIGIN * 2);
    // the targets view shows it queued behind its cap
    const targets = await eventually(async () => {
      const r = await api<any>(t.url, 'GET', '/api/targets');
      const item = r.body.items.find((x: any) => x.origin === new URL(hung.url).origin);
      return item && item.queued + item.inFlight > 0 ? r.body : undefined;
    }, 10_000);
    const item = targets.items.find((x: any) => x.origin === new URL(hung.url).origin);
    expect(item.inFlight).toBeLessThanOrEqual(PER_ORIGIN);
    expect(item.nodes).toBe(1);
    expect(targets.windowSeconds).toBe(300);
    // and the runs of that origin can be listed by it
    const page = await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?origin=${encodeURIComponent(new URL(hung.url).origin)}&limit=200`);
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBe(100);
    const bad = await api<any>(t.url, 'GET', `/api/runs?origin=${encodeURIComponent('ftp://x/y')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('origin');
  });
});

describe('cancellations reach queued deliveries', () => {
  it('a task deleted while its occurrence waits behind its origin\'s cap is never sent', async () => {
    // an origin of its own (the other hung origin is still busy with the isolation test's runs)
    const hung = await startReceiver();
    hung.handle('/', () => {
      /* accepts and never answers */
    });
    const at = new Date(Date.now() + 1200);
    // four hung attempts fill the origin's slots for 3 s; the fifth run waits in its queue
    await bulkWebhooks('blocker', PER_ORIGIN, at, () => `${hung.url}/blocker`, { timeoutMs: 3000, maxAttempts: 1 });
    const dueAt = new Date(at.getTime() + 300);
    const task = await createTask({ schedule: { type: 'once', at: dueAt.toISOString() }, action: { type: 'webhook', url: `${hung.url}/queued-then-paused`, timeoutMs: 3000 } });
    await eventually(async () => (hung.on('/blocker').length >= PER_ORIGIN ? true : undefined), 10_000);
    // past its instant: fired by the executor, waiting in the origin's queue
    await new Promise((r) => setTimeout(r, Math.max(0, dueAt.getTime() + 300 - Date.now())));
    expect(hung.on('/queued-then-paused')).toHaveLength(0);
    // a one-time task whose occurrence is claimed is `completed`: deleting it cancels that occurrence
    expect([200, 204]).toContain((await api(t.url, 'DELETE', `/api/tasks/${task.id}`)).status);
    const [run] = await t.app.sql<{ status: string }[]>`select status from runs where task_id = ${task.id}`;
    expect(run!.status).toBe('skipped');
    // the blockers time out and free their slots; the paused task's run still does not go out
    await eventually(async () => ((await runsNamed('blocker')).every((r) => r.status === 'failed') ? true : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(hung.on('/queued-then-paused')).toHaveLength(0);
    await hung.close();
  });
});

describe('edits reach held occurrences', () => {
  it('a new URL and body after the occurrence was claimed: it goes out as edited, never as it was', async () => {
    const task = await createTask({ schedule: { type: 'once', at: soon(2500) }, action: { type: 'webhook', url: `${rx.url}/before`, body: { v: 1 } } });
    // claimed and held by the node (lookahead 2 s)
    await eventually(async () => {
      const [r] = await runsOf(task.id);
      return r?.nodeId ? r : undefined;
    });
    const res = await api(t.url, 'PATCH', `/api/tasks/${task.id}`, { action: { type: 'webhook', url: `${rx.url}/after`, body: { v: 2 } } });
    expect(res.status).toBe(200);
    const run = await finalRun(task.id);
    expect(run.status).toBe('succeeded');
    expect(rx.on('/before')).toHaveLength(0);
    const [got] = rx.on('/after');
    expect(JSON.parse(got!.body)).toEqual({ v: 2 });
  });

  it('a new payload reaches the default envelope of a held occurrence', async () => {
    const task = await createTask({ schedule: { type: 'once', at: soon(2500) }, payload: { p: 'old' }, action: { type: 'webhook', url: `${rx.url}/envelope` } });
    await eventually(async () => ((await runsOf(task.id))[0]?.nodeId ? true : undefined));
    expect((await api(t.url, 'PATCH', `/api/tasks/${task.id}`, { payload: { p: 'new' } })).status).toBe(200);
    await finalRun(task.id);
    expect(JSON.parse(rx.on('/envelope')[0]!.body).payload).toEqual({ p: 'new' });
  });
});

describe('maxLatenessMs', () => {
  it('an occurrence whose first attempt would start too late is skipped with its reason; within the limit it fires', async () => {
    const past = new Date(Date.now() - 5000).toISOString();
    const late = await createTask({ schedule: { type: 'once', at: past }, runImmediatelyIfPast: true, maxLatenessMs: 1000, action: { type: 'webhook', url: `${rx.url}/expired` } });
    expect(late.maxLatenessMs).toBe(1000);
    const lateLog = await createTask({ schedule: { type: 'once', at: past }, runImmediatelyIfPast: true, maxLatenessMs: 1000 });
    const fine = await createTask({ schedule: { type: 'once', at: past }, runImmediatelyIfPast: true, maxLatenessMs: 60_000, action: { type: 'webhook', url: `${rx.url}/in-time` } });
    const [a, b, c] = [await finalRun(late.id), await finalRun(lateLog.id), await finalRun(fine.id)];
    expect(a.status).toBe('skipped');
    expect(a.reason).toMatch(/^expired: the first attempt would have started \d+ ms after its time \(maxLatenessMs 1000\)$/);
    expect(a.startedAt).toBeNull();
    expect(rx.on('/expired')).toHaveLength(0);
    expect(b.status).toBe('skipped');
    expect(b.reason).toMatch(/^expired: /);
    expect(c.status).toBe('succeeded');
    // a manual trigger is not judged by it
    const trig = await api<Run>(t.url, 'POST', `/api/tasks/${late.id}/trigger`);
    if (trig.status === 201 || trig.status === 202 || trig.status === 200) {
      await eventually(async () => rx.on('/expired').length === 1 || undefined);
    }
    const bad = await api<any>(t.url, 'POST', '/api/tasks', { name: 'x', schedule: { type: 'once', at: soon(60_000) }, maxLatenessMs: -1 });
    expect(bad.status).toBe(400);
  });
});

describe('redrive', () => {
  it('retries a failed webhook run as a new linked run with the original Idempotency-Key; refuses the rest', async () => {
    let allow = false;
    rx.handle('/flaky', (_r, res) => (allow ? setTimeout(() => res.writeHead(204).end(), 800) : res.writeHead(400).end('no')));
    const task = await createTask({ action: { type: 'webhook', url: `${rx.url}/flaky` } });
    const failed = await finalRun(task.id);
    expect(failed.status).toBe('failed');
    allow = true;
    const retry = await api<Run>(t.url, 'POST', `/api/runs/${failed.id}/retry`);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.body.retryOf).toBe(failed.id);
    expect(retry.body.status).toBe('pending');
    // a second retry while the first is in progress
    const again = await api<any>(t.url, 'POST', `/api/runs/${failed.id}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('RETRY_IN_PROGRESS');
    const done = await eventually(async () => {
      const r = (await runsOf(task.id)).find((x) => x.id === retry.body.id);
      return r && r.status === 'succeeded' ? r : undefined;
    });
    expect(done.lagMs).not.toBeNull();
    expect(done.deliveries).toHaveLength(1);
    const [first, second] = rx.on('/flaky');
    expect(second!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
    expect(second!.headers['sundial-run-id']).toBe(retry.body.id);
    // the failed run stays as it was
    const original = (await runsOf(task.id)).find((x) => x.id === failed.id)!;
    expect(original.status).toBe('failed');
    expect(original.deliveries).toEqual(failed.deliveries);

    const ok = await api<any>(t.url, 'POST', `/api/runs/${done.id}/retry`);
    expect(ok.status).toBe(422);
    expect(ok.body.error.code).toBe('RUN_NOT_RETRYABLE');
    const none = await api<any>(t.url, 'POST', '/api/runs/999999999/retry');
    expect(none.status).toBe(404);
    const logTask = await createTask({});
    const logRun = await finalRun(logTask.id);
    expect((await api<any>(t.url, 'POST', `/api/runs/${logRun.id}/retry`)).status).toBe(422);
  });

  it('retries every failed run of a task in one call', async () => {
    rx.handle('/bulk-fail', (_r, res) => res.writeHead(410).end());
    const task = await createTask({ schedule: { type: 'cron', expression: '* * * * * *' }, action: { type: 'webhook', url: `${rx.url}/bulk-fail` } });
    await eventually(async () => ((await runsOf(task.id)).filter((r) => r.status === 'failed').length >= 2 ? true : undefined));
    await api(t.url, 'POST', `/api/tasks/${task.id}/pause`);
    const failed = (await runsOf(task.id)).filter((r) => r.status === 'failed').length;
    const res = await api<{ retried: number; runs: string[] }>(t.url, 'POST', '/api/runs/retry', { taskId: task.id });
    expect(res.status).toBe(200);
    expect(res.body.retried).toBe(failed);
    const missing = await api<any>(t.url, 'POST', '/api/runs/retry', {});
    expect(missing.status).toBe(400);
  });
});
