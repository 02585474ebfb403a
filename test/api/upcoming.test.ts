// GET /api/stats/upcoming on a real node and database: one-time tasks counted per minute,
// recurring tasks projected per schedule group and multiplied, claimed-ahead runs counted,
// paused tasks not, bad input refused naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upcoming } from '../../src/shared/schemas.js';
import { projectRecurring } from '../../src/server/api/upcoming.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const MINUTE = 60_000;

async function create(body: unknown) {
  const res = await t.app.http.inject({ method: 'POST', url: '/api/tasks', payload: body as object });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string };
}

async function upcoming(query = '') {
  const res = await t.app.http.inject({ method: 'GET', url: `/api/stats/upcoming${query}` });
  return { status: res.statusCode, body: res.json() };
}

describe('GET /api/stats/upcoming', () => {
  it('counts one-time tasks per minute and projects recurring schedules', async () => {
    // A spike 20 minutes out, far beyond the claim lookahead, so nothing fires during the test.
    const spike = new Date(Math.floor((Date.now() + 20 * MINUTE) / MINUTE) * MINUTE + 30_000);
    for (let i = 0; i < 25; i++) await create({ name: `spike ${i}`, schedule: { type: 'once', at: spike.toISOString() } });
    await create({ name: 'later', schedule: { type: 'once', at: new Date(spike.getTime() + 2 * MINUTE).toISOString() } });
    // Three tasks share one schedule (one group), one has its own, one is paused.
    for (let i = 0; i < 3; i++) await create({ name: `five ${i}`, schedule: { type: 'cron', expression: '*/5 * * * *', timezone: 'UTC' } });
    await create({ name: 'hourly berlin', schedule: { type: 'cron', expression: '0 * * * *', timezone: 'Europe/Berlin' } });
    const paused = await create({ name: 'paused', schedule: { type: 'cron', expression: '* * * * *', timezone: 'UTC' } });
    expect((await t.app.http.inject({ method: 'POST', url: `/api/tasks/${paused.id}/pause` })).statusCode).toBe(200);
    // A one-time occurrence already claimed (pending run, task no longer due) still counts.
    const claimedAt = new Date(spike.getTime() + 5 * MINUTE);
    await t.app.sql`
      with t as (
        insert into tasks (name, kind, run_at, state, next_run_at) values ('claimed ahead', 'once', ${claimedAt}, 'completed', null)
        returning id)
      insert into runs (task_id, scheduled_for, status, attempt) select id, ${claimedAt}, 'pending', 1 from t`;

    const { status, body } = await upcoming('?hours=2');
    expect(status).toBe(200);
    const u = body as Upcoming;
    expect(u.bucketMinutes).toBe(1);
    expect(u.buckets).toHaveLength(120);
    expect(Date.parse(u.from) % MINUTE).toBe(0);
    expect(Date.parse(u.from)).toBeLessThanOrEqual(Date.now());
    const at = (d: Date) => u.buckets.find((b) => Date.parse(b.at) === Math.floor(d.getTime() / MINUTE) * MINUTE)!;
    expect(at(spike).once).toBe(25);
    expect(at(new Date(spike.getTime() + 2 * MINUTE)).once).toBe(1);
    expect(at(claimedAt).once).toBe(1);
    expect(u.buckets.reduce((n, b) => n + b.once, 0)).toBe(27);

    expect(u.scheduleGroups).toBe(2);
    expect(u.unprojectedTasks).toBe(0);
    for (const b of u.buckets) {
      const m = new Date(b.at).getUTCMinutes();
      // Berlin's whole hours are whole UTC hours (offset +01:00 or +02:00)
      const expected = (m % 5 === 0 ? 3 : 0) + (m === 0 ? 1 : 0);
      // the current minute's occurrence may already be past
      if (b.at === u.from) expect(b.recurring).toBeLessThanOrEqual(expected);
      else expect(b.recurring, b.at).toBe(expected);
    }
  });

  it('shares one answer between requests, and a task created since shows within about a second', async () => {
    const [a, b] = await Promise.all([upcoming('?hours=3'), upcoming('?hours=3')]);
    expect(a.body).toEqual(b.body);
    const at = new Date(Math.floor((Date.now() + 90 * MINUTE) / MINUTE) * MINUTE + 1_000);
    const count = (u: Upcoming) => u.buckets.find((x) => Date.parse(x.at) === at.getTime() - 1_000)?.once ?? 0;
    const before = count(a.body as Upcoming);
    await create({ name: 'new since', schedule: { type: 'once', at: at.toISOString() } });
    // the node's own task notice marks the shared answer stale; then it lives at most 1 s
    const started = Date.now();
    let seen = before;
    while (seen === before && Date.now() - started < 5_000) {
      seen = count((await upcoming('?hours=3')).body as Upcoming);
      if (seen === before) await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('refuses hours outside 1–24, naming the field', async () => {
    for (const q of ['?hours=0', '?hours=25', '?hours=abc', '?days=1']) {
      const { status, body } = await upcoming(q);
      expect(status, q).toBe(400);
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.details.field, q).toBe(q.startsWith('?days') ? 'days' : 'hours');
    }
  });

  it('is in the OpenAPI document', async () => {
    const res = await t.app.http.inject({ method: 'GET', url: '/api/openapi.json' });
    const doc = res.json() as { paths: Record<string, { get?: { responses: Record<string, unknown> } }> };
    expect(doc.paths['/api/stats/upcoming']?.get?.responses['200']).toBeDefined();
  });
});

describe('projectRecurring', () => {
  const from = Date.parse('2027-01-04T08:00:00Z');
  const group = (cronExpression: string, tasks: number) => ({ cronExpression, timezone: 'UTC', startAt: null, endAt: null, tasks });

  it('multiplies each schedule by the tasks that share it', () => {
    const p = projectRecurring([group('0 9 * * *', 100_000), group('*/30 * * * *', 2)], { from, now: from, to: from + 2 * 60 * MINUTE, maxOccurrences: 1000 });
    expect(p.perBucket[60]).toBe(100_002); // 09:00: the reminders and a half-hourly
    expect(p.perBucket[30]).toBe(2);
    expect(p.perBucket.reduce((a, b) => a + b, 0)).toBe(100_000 + 2 * 4);
    expect(p.occurrences).toBe(1 + 4); // one evaluation for 100,000 tasks
    expect(p.unprojectedTasks).toBe(0);
  });

  it('leaves out whole the groups that would exceed the bound, and says how many tasks', () => {
    // every second for an hour is 3,600 occurrences; the bound is 1,000
    const p = projectRecurring([group('* * * * * *', 7), group('0 * * * *', 5)], { from, now: from, to: from + 60 * MINUTE, maxOccurrences: 1000 });
    expect(p.unprojectedTasks).toBe(7);
    expect(p.perBucket.reduce((a, b) => a + b, 0)).toBe(5);
    expect(p.occurrences).toBe(1);
  });
});
