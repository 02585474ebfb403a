// The firing path against a real PostgreSQL, with the real clock: bounds are
// generous (a loaded 2-core machine), assertions are exact about counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ scheduler: { lookaheadMs: 2000, pollIntervalMs: 250 } });
});
afterAll(async () => {
  await t?.stop();
});

type Run = { id: string; taskId: string; scheduledFor: string; startedAt: string | null; status: string; lagMs: number | null; reason: string | null; trigger: string; nodeId: string | null; attempt: number };

const runsOf = async (taskId: string) => (await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?taskId=${taskId}&limit=500`)).body.items;
const create = async (body: unknown) => {
  const res = await api(t.url, 'POST', '/api/tasks', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; version: number; nextRunAt: string | null; state: string };
};

describe('one-time tasks', () => {
  it('fire once, within a second of their time, with the exact start time recorded', async () => {
    const at = new Date(Date.now() + 1500);
    const task = await create({ name: 'reminder', schedule: { type: 'once', at: at.toISOString() }, payload: { to: 'ada' } });
    const [run] = await eventually(async () => {
      const r = await runsOf(task.id);
      return r.length && r[0]!.status === 'succeeded' ? r : undefined;
    });
    expect(run!.scheduledFor).toBe(at.toISOString());
    const started = new Date(run!.startedAt!).getTime();
    expect(started).toBeGreaterThanOrEqual(at.getTime());
    expect(started - at.getTime()).toBeLessThan(1000);
    expect(run!.lagMs).toBe(started - at.getTime());
    expect(run!.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // and never again
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runsOf(task.id)).toHaveLength(1);
    const after = await api(t.url, 'GET', `/api/tasks/${task.id}`);
    expect(after.body.state).toBe('completed');
    expect(after.body.nextRunAt).toBeNull();
    expect(after.body.lastRun.status).toBe('succeeded');
  });

  it('a task created one second before its time still fires on time (NOTIFY wakes the claimer)', async () => {
    // a long poll interval would miss it; the wake-up must not
    const slow = await startTestApp({ scheduler: { pollIntervalMs: 60_000, lookaheadMs: 2000 } });
    try {
      // let the first (startup) claim pass happen
      await new Promise((r) => setTimeout(r, 500));
      const at = new Date(Date.now() + 1000);
      const res = await api(slow.url, 'POST', '/api/tasks', { name: 'soon', schedule: { type: 'once', at: at.toISOString() } });
      expect(res.status).toBe(201);
      const run = await eventually(async () => {
        const r = (await api<{ items: Run[] }>(slow.url, 'GET', `/api/runs?taskId=${res.body.id}`)).body.items[0];
        return r?.status === 'succeeded' ? r : undefined;
      }, 20_000);
      expect(run.lagMs!).toBeLessThan(1000);
    } finally {
      await slow.stop();
    }
  });
});

describe('recurring tasks', () => {
  it('a 6-field every-second cron fires once per second slot, on whole seconds', async () => {
    const task = await create({ name: 'tick', schedule: { type: 'cron', expression: '* * * * * *' } });
    const runs = await eventually(async () => {
      const r = (await runsOf(task.id)).filter((x) => x.status === 'succeeded');
      return r.length >= 5 ? r : undefined;
    });
    await api(t.url, 'DELETE', `/api/tasks/${task.id}`);
    const all = await runsOf(task.id);
    const slots = all.filter((r) => r.status === 'succeeded').map((r) => r.scheduledFor);
    expect(new Set(slots).size).toBe(slots.length);
    for (const s of slots) expect(s).toMatch(/:\d\d\.000Z$/);
    const sorted = [...slots].sort();
    for (let i = 1; i < sorted.length; i++) {
      expect(new Date(sorted[i]!).getTime() - new Date(sorted[i - 1]!).getTime()).toBe(1000);
    }
    for (const r of runs) expect(r.lagMs!).toBeLessThan(2000);
  });

  it('pause stops it, resume restarts it from now, edit recomputes the next occurrence', async () => {
    const task = await create({ name: 'edit me', schedule: { type: 'cron', expression: '*/1 * * * * *' } });
    await eventually(async () => (await runsOf(task.id)).some((r) => r.status === 'succeeded'));
    const paused = await api(t.url, 'POST', `/api/tasks/${task.id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe('paused');
    expect(paused.body.nextRunAt).toBeNull();
    await new Promise((r) => setTimeout(r, 500)); // anything already firing lands
    const atPause = (await runsOf(task.id)).filter((r) => r.status === 'succeeded').length;
    await new Promise((r) => setTimeout(r, 2500));
    expect((await runsOf(task.id)).filter((r) => r.status === 'succeeded').length).toBe(atPause);

    const resumed = await api(t.url, 'POST', `/api/tasks/${task.id}/resume`);
    expect(resumed.body.state).toBe('active');
    await eventually(async () => (await runsOf(task.id)).filter((r) => r.status === 'succeeded').length > atPause);

    const edited = await api(t.url, 'PATCH', `/api/tasks/${task.id}`, {
      schedule: { type: 'cron', expression: '0 0 12 1 1 *', timezone: 'America/New_York' },
    });
    expect(edited.status).toBe(200);
    const year = new Date().getUTCFullYear() + 1;
    expect(edited.body.nextRunAt).toBe(`${year}-01-01T17:00:00.000Z`);
    const detail = await api(t.url, 'GET', `/api/tasks/${task.id}`);
    expect(detail.body.upcoming).toHaveLength(5);
    expect(detail.body.upcoming[1]).toBe(`${year + 1}-01-01T17:00:00.000Z`);
    expect(detail.body.description).toMatch(/New_York/);
  });

  it('an end bound completes the task after its last occurrence', async () => {
    const start = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const end = new Date(start.getTime() + 2000);
    const task = await create({
      name: 'bounded',
      schedule: { type: 'cron', expression: '* * * * * *', startAt: start.toISOString(), endAt: end.toISOString() },
    });
    const detail = await eventually(async () => {
      const d = await api(t.url, 'GET', `/api/tasks/${task.id}`);
      return d.body.state === 'completed' ? d : undefined;
    });
    expect(detail.body.nextRunAt).toBeNull();
    await eventually(async () => (await runsOf(task.id)).every((r) => r.status === 'succeeded'));
    const slots = (await runsOf(task.id)).map((r) => r.scheduledFor).sort();
    expect(slots).toEqual([0, 1000, 2000].map((d) => new Date(start.getTime() + d).toISOString()));
  });
});

describe('manual triggers and deletes', () => {
  it('trigger runs it now, once, without disturbing the schedule', async () => {
    const at = new Date(Date.now() + 3_600_000);
    const task = await create({ name: 'later', schedule: { type: 'once', at: at.toISOString() } });
    const res = await api(t.url, 'POST', `/api/tasks/${task.id}/trigger`);
    expect(res.status).toBe(202);
    expect(res.body.trigger).toBe('manual');
    const run = await eventually(async () => (await runsOf(task.id)).find((r) => r.status === 'succeeded'));
    expect(run.trigger).toBe('manual');
    const byNode = await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?taskId=${task.id}&nodeId=${encodeURIComponent(run.nodeId!)}`);
    expect(byNode.body.items.map((r) => r.id)).toEqual([run.id]);
    const otherNode = await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?taskId=${task.id}&nodeId=no-such-node`);
    expect(otherNode.body.items).toEqual([]);
    expect(run.lagMs!).toBeLessThan(2000);
    const after = await api(t.url, 'GET', `/api/tasks/${task.id}`);
    expect(after.body.nextRunAt).toBe(at.toISOString());
    expect(after.body.state).toBe('active');
  });

  it('delete: an occurrence already claimed does not fire, and history stays readable', async () => {
    const long = await startTestApp({ scheduler: { lookaheadMs: 8000, pollIntervalMs: 200 } });
    try {
      const at = new Date(Date.now() + 5000);
      const res = await api(long.url, 'POST', '/api/tasks', { name: 'doomed', schedule: { type: 'once', at: at.toISOString() } });
      const id = res.body.id as string;
      // it is claimed (pending, owned by the node) well before its time
      const pending = await eventually(async () => {
        const r = (await api<{ items: Run[] }>(long.url, 'GET', `/api/runs?taskId=${id}`)).body.items[0];
        return r?.status === 'pending' ? r : undefined;
      });
      expect(pending.nodeId).toBeTruthy();
      expect((await api(long.url, 'DELETE', `/api/tasks/${id}`)).status).toBe(204);
      expect((await api(long.url, 'GET', `/api/tasks/${id}`)).status).toBe(404);
      await new Promise((r) => setTimeout(r, Math.max(0, at.getTime() - Date.now()) + 1500));
      const runs = (await api<{ items: Run[] }>(long.url, 'GET', `/api/runs?taskId=${id}`)).body.items;
      expect(runs).toHaveLength(1);
      expect(runs[0]!.status).toBe('skipped');
      expect(runs[0]!.reason).toBe('task deleted');
      expect(runs[0]!.startedAt).toBeNull();
    } finally {
      await long.stop();
    }
  });
});

describe('idempotent create', () => {
  it('the same key returns the same task, a different body under it is refused', async () => {
    const body = { name: 'once only', schedule: { type: 'once', at: new Date(Date.now() + 3_600_000).toISOString() } };
    const a = await api(t.url, 'POST', '/api/tasks', body, { 'idempotency-key': 'k-123' });
    const b = await api(t.url, 'POST', '/api/tasks', body, { 'idempotency-key': 'k-123' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const c = await api(t.url, 'POST', '/api/tasks', { ...body, name: 'other' }, { 'idempotency-key': 'k-123' });
    expect(c.status).toBe(422);
    expect(c.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const [row] = await t.app.sql`select count(*)::int as n from tasks where name in ('once only', 'other')`;
    expect(row!.n).toBe(1);
  });
});

describe('lists, pagination, preview, health', () => {
  it('paginates tasks and runs with cursors, filters by state and name', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await create({ name: `page-${i}`, schedule: { type: 'once', at: new Date(Date.now() + 3_600_000 + i).toISOString() } })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { id: string }[]; nextCursor: string | null } } = await api(t.url, 'GET', `/api/tasks?q=page-&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.items.map((x) => x.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const paused = await api(t.url, 'POST', `/api/tasks/${ids[0]}/pause`);
    expect(paused.status).toBe(200);
    const onlyPaused = await api(t.url, 'GET', '/api/tasks?state=paused&q=page-');
    expect(onlyPaused.body.items.map((x: { id: string }) => x.id)).toEqual([ids[0]]);
  });

  it('preview gives occurrences, a description and DST notes', async () => {
    const res = await api(t.url, 'GET', `/api/schedules/preview?expression=${encodeURIComponent('30 2 * * *')}&timezone=Europe/Berlin&count=3&startAt=2027-03-27T00:00:00Z`);
    expect(res.status).toBe(200);
    expect(res.body.occurrences).toEqual(['2027-03-27T01:30:00.000Z', '2027-03-28T01:00:00.000Z', '2027-03-29T00:30:00.000Z']);
    expect(res.body.details[1].dst).toBe('gap');
    expect(res.body.description).toMatch(/Europe\/Berlin/);
    const post = await api(t.url, 'POST', '/api/schedules/preview', { expression: '@daily', count: 2 });
    expect(post.status).toBe(200);
    expect(post.body.occurrences).toHaveLength(2);
  });

  it('health, readiness, metrics and the OpenAPI document', async () => {
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
    expect((await api(t.url, 'GET', '/readyz')).body.status).toBe('ready');
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/sundial_fire_lag_seconds_bucket/);
    expect(metrics).toMatch(/sundial_runs_total\{status="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/sundial_claim_batch_size_count [1-9]/);
    expect(metrics).toMatch(/sundial_due_backlog \d/);
    const doc = await api(t.url, 'GET', '/api/openapi.json');
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/tasks', '/api/tasks/{id}', '/api/runs', '/api/schedules/preview']));
    const cluster = await api(t.url, 'GET', '/api/cluster');
    expect(cluster.body.nodes.find((n: { self: boolean }) => n.self)?.alive).toBe(true);
    const stats = await api(t.url, 'GET', '/api/stats');
    expect(stats.status).toBe(200);
    expect(stats.body.runs.total).toBeGreaterThan(0);
  });

  it('the event stream sends change hints', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${t.url}/api/events`, { signal: ctrl.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    await create({ name: 'sse', schedule: { type: 'once', at: new Date(Date.now() + 1000).toISOString() } });
    const deadline = Date.now() + 15_000;
    while (!(text.includes('event: tasks') && text.includes('event: runs')) && Date.now() < deadline) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    ctrl.abort();
    expect(text).toContain('event: tasks');
    expect(text).toContain('"change":"created"');
    expect(text).toContain('event: runs');
  });
});
