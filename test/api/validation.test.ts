// Bad input gets a 4xx naming the field, never a 500, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const inFuture = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();

async function post(body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await t.app.http.inject({ method: 'POST', url: '/api/tasks', headers, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.statusCode, body: res.json() as { error: { code: string; message: string; details?: { field?: string } } } };
}

async function taskCount(): Promise<number> {
  const [row] = await t.app.sql`select count(*)::int as n from tasks`;
  return row!.n;
}

describe('POST /api/tasks rejects bad input with the field named', () => {
  const cases: [string, unknown, number, string, string][] = [
    ['unknown time zone', { name: 'x', schedule: { type: 'cron', expression: '* * * * *', timezone: 'Mars/Olympus' } }, 400, 'INVALID_TIMEZONE', 'schedule.timezone'],
    ['invalid cron', { name: 'x', schedule: { type: 'cron', expression: '61 * * * *' } }, 400, 'INVALID_SCHEDULE', 'schedule.expression'],
    ['cron with too many fields', { name: 'x', schedule: { type: 'cron', expression: '* * * * * * * *' } }, 400, 'INVALID_SCHEDULE', 'schedule.expression'],
    ['cron that never fires', { name: 'x', schedule: { type: 'cron', expression: '0 0 30 2 *' } }, 400, 'INVALID_SCHEDULE', 'schedule.expression'],
    ['malformed date', { name: 'x', schedule: { type: 'once', at: '2026-13-45T99:00:00Z' } }, 400, 'VALIDATION_FAILED', 'schedule.at'],
    ['date without offset', { name: 'x', schedule: { type: 'once', at: '2030-01-01T09:00:00' } }, 400, 'VALIDATION_FAILED', 'schedule.at'],
    ['date in the past', { name: 'x', schedule: { type: 'once', at: '2020-01-01T00:00:00Z' } }, 400, 'SCHEDULE_IN_PAST', 'schedule.at'],
    ['date absurdly far', { name: 'x', schedule: { type: 'once', at: '9999-01-01T00:00:00Z' } }, 400, 'VALIDATION_FAILED', 'schedule.at'],
    ['unknown field', { name: 'x', schedule: { type: 'once', at: inFuture() }, colour: 'red' }, 400, 'VALIDATION_FAILED', 'colour'],
    ['unknown schedule field', { name: 'x', schedule: { type: 'once', at: inFuture(), every: 5 } }, 400, 'VALIDATION_FAILED', 'schedule.every'],
    ['unknown schedule type', { name: 'x', schedule: { type: 'weekly' } }, 400, 'VALIDATION_FAILED', 'schedule.type'],
    ['missing schedule', { name: 'x' }, 400, 'VALIDATION_FAILED', 'schedule'],
    ['missing name', { schedule: { type: 'once', at: inFuture() } }, 400, 'VALIDATION_FAILED', 'name'],
    ['blank name', { name: '   ', schedule: { type: 'once', at: inFuture() } }, 400, 'VALIDATION_FAILED', 'name'],
    ['name too long', { name: 'x'.repeat(201), schedule: { type: 'once', at: inFuture() } }, 400, 'VALIDATION_FAILED', 'name'],
    ['name of the wrong type', { name: 42, schedule: { type: 'once', at: inFuture() } }, 400, 'VALIDATION_FAILED', 'name'],
    ['bad misfire policy', { name: 'x', schedule: { type: 'once', at: inFuture() }, misfirePolicy: 'sometimes' }, 400, 'VALIDATION_FAILED', 'misfirePolicy'],
    ['end before start', { name: 'x', schedule: { type: 'cron', expression: '* * * * *', startAt: inFuture(7200_000), endAt: inFuture() } }, 400, 'INVALID_SCHEDULE', 'schedule.endAt'],
    ['payload over 64 KiB', { name: 'x', schedule: { type: 'once', at: inFuture() }, payload: { blob: 'x'.repeat(70_000) } }, 413, 'PAYLOAD_TOO_LARGE', 'payload'],
  ];
  for (const [title, body, status, code, field] of cases) {
    it(title, async () => {
      const before = await taskCount();
      const res = await post(body);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.details?.field).toBe(field);
      expect(res.body.error.message.length).toBeGreaterThan(5);
      expect(await taskCount()).toBe(before);
    });
  }

  it('malformed JSON is a 400, not a 500', async () => {
    const res = await post('{"name": "x", ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
  });

  it('a body over the limit is a 413', async () => {
    const res = await post(JSON.stringify({ name: 'x', schedule: { type: 'once', at: inFuture() }, payload: 'y'.repeat(300_000) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('BODY_TOO_LARGE');
  });

  it('a wrong content type is a 415', async () => {
    const res = await post('name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a past one-time task is accepted when immediate execution is asked for', async () => {
    const res = await post({ name: 'late on purpose', schedule: { type: 'once', at: '2020-01-01T00:00:00Z' }, runImmediatelyIfPast: true });
    expect(res.status).toBe(201);
  });
});

describe('other endpoints reject bad input too', () => {
  it('unknown task id is a 404 with a code, malformed id too', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1' or '1'='1"]) {
      const res = await t.app.http.inject({ method: 'GET', url: `/api/tasks/${encodeURIComponent(id)}` });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('TASK_NOT_FOUND');
    }
  });

  it('bad query parameters name the parameter', async () => {
    const res = await t.app.http.inject({ method: 'GET', url: '/api/runs?status=exploded' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details.field).toBe('status');
    const res2 = await t.app.http.inject({ method: 'GET', url: '/api/tasks?limit=100000' });
    expect(res2.statusCode).toBe(400);
    expect(res2.json().error.details.field).toBe('limit');
    const res3 = await t.app.http.inject({ method: 'GET', url: '/api/runs?cursor=garbage' });
    expect(res3.statusCode).toBe(400);
    expect(res3.json().error.code).toBe('INVALID_CURSOR');
  });

  it('preview explains what is wrong', async () => {
    const bad = await t.app.http.inject({ method: 'GET', url: '/api/schedules/preview?expression=' + encodeURIComponent('*/0 * * * *') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.field).toBe('expression');
    const tz = await t.app.http.inject({ method: 'GET', url: '/api/schedules/preview?expression=*+*+*+*+*&timezone=Nowhere/Land' });
    expect(tz.statusCode).toBe(400);
    expect(tz.json().error.details.field).toBe('timezone');
  });

  it('PATCH with a stale version is a 409 and changes nothing', async () => {
    const created = await post({ name: 'v', schedule: { type: 'once', at: inFuture() } });
    const id = (created.body as unknown as { id: string }).id;
    const ok = await t.app.http.inject({ method: 'PATCH', url: `/api/tasks/${id}`, payload: { name: 'v2', version: 1 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().version).toBe(2);
    const stale = await t.app.http.inject({ method: 'PATCH', url: `/api/tasks/${id}`, payload: { name: 'v3', version: 1 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.code).toBe('VERSION_CONFLICT');
    const staleHeader = await t.app.http.inject({ method: 'PATCH', url: `/api/tasks/${id}`, headers: { 'if-match': '"1"' }, payload: { name: 'v4' } });
    expect(staleHeader.statusCode).toBe(409);
    const now = await t.app.http.inject({ method: 'GET', url: `/api/tasks/${id}` });
    expect(now.json().name).toBe('v2');
  });

  it('unknown routes are a JSON 404', async () => {
    const res = await t.app.http.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('ROUTE_NOT_FOUND');
  });
});
