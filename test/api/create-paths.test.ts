// Single creates that share one INSERT, and instants through the set-based writes: each
// request keeps its own answer (replay, key in use, refusal) and every field its value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskInsertQueue, type TaskInsert } from '../../src/server/store/tasks.js';
import { injectJson, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const later = (ms: number) => new Date(Date.UTC(2031, 0, 1) + ms).toISOString();

const call = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => injectJson(t, method, url, body, headers);

describe('concurrent single creates', () => {
  it('share statements, and each gets its own answer: created, replayed, key in use', async () => {
    const plain = Array.from({ length: 40 }, (_, i) => ({
      name: `wave ${i}`,
      schedule: { type: 'once', at: later(i * 1001 + 7) },
      payload: i % 2 ? { i } : null,
    }));
    const idem = { name: 'idem', schedule: { type: 'once', at: later(5) } };
    const keyed = { name: 'keyed', key: 'wave/one', schedule: { type: 'once', at: later(6) } };
    const cron = { name: 'cron', schedule: { type: 'cron', expression: '0 9 * * 1', timezone: 'Europe/Berlin', startAt: later(0) } };
    const res = await Promise.all([
      ...plain.map((b) => call('POST', '/api/tasks', b)),
      call('POST', '/api/tasks', idem, { 'idempotency-key': 'wave-idem' }),
      call('POST', '/api/tasks', idem, { 'idempotency-key': 'wave-idem' }),
      call('POST', '/api/tasks', { ...idem, name: 'other' }, { 'idempotency-key': 'wave-idem' }),
      call('POST', '/api/tasks', keyed),
      call('POST', '/api/tasks', { ...keyed, name: 'keyed twice' }),
      call('POST', '/api/tasks', cron),
    ]);
    const [p, [i1, i2, i3, k1, k2, c]] = [res.slice(0, 40), res.slice(40)] as const;
    expect(p.map((r) => r.status)).toEqual(plain.map(() => 201));
    expect(new Set(p.map((r) => r.body.id)).size).toBe(40);
    p.forEach((r, i) => {
      expect(r.body).toMatchObject({ name: plain[i]!.name, state: 'active', payload: plain[i]!.payload, nextRunAt: plain[i]!.schedule.at });
      expect(r.headers.location).toBe(`/api/tasks/${r.body.id}`);
    });
    // the same idempotency key: one created, the same body replayed, a different body refused
    const idemAnswers = [i1!, i2!, i3!];
    const made = idemAnswers.find((r) => r.status === 201)!;
    expect(made.body.name).toBe('idem');
    const sameBody = [i1!, i2!].find((r) => r !== made);
    if (sameBody) {
      expect(sameBody.status).toBe(200);
      expect(sameBody.body.id).toBe(made.body.id);
      expect(sameBody.headers['idempotent-replayed']).toBe('true');
    }
    expect(idemAnswers.filter((r) => r.status === 201)).toHaveLength(1);
    expect(idemAnswers.filter((r) => r.status !== 201 && r.status !== 200).map((r) => r.body.error.code)).toContain('IDEMPOTENCY_KEY_REUSED');
    // one key: one created, the other told who holds it
    const [won, lost] = k1!.status === 201 ? [k1!, k2!] : [k2!, k1!];
    expect(won.status).toBe(201);
    expect(lost.status).toBe(409);
    expect(lost.body.error).toMatchObject({ code: 'TASK_KEY_IN_USE', details: { field: 'key', taskId: won.body.id } });
    expect(c!.status).toBe(201);
    expect(c!.body.schedule).toMatchObject({ type: 'cron', expression: '0 9 * * 1', timezone: 'Europe/Berlin', startAt: later(0) });
    // stored as answered
    const [row] = await t.app.sql`select count(*)::int as n from tasks where name like 'wave %' and state = 'active'`;
    expect(row!.n).toBe(40);
    // one created_at per statement: the forty went in fewer than forty
    const [stmts] = await t.app.sql`select count(distinct created_at)::int as n from tasks where name like 'wave %'`;
    expect(stmts!.n).toBeLessThan(40);
    const got = await call('GET', `/api/tasks/${p[3]!.body.id}`);
    expect(got.body).toMatchObject({ name: 'wave 3', payload: { i: 3 }, nextRunAt: plain[3]!.schedule.at });
  });

  it('a create PostgreSQL refuses fails alone; those beside it are stored', async () => {
    const row = (name: string, state = 'active'): TaskInsert => ({
      key: null, name, kind: 'once', runAt: new Date(later(1)), cronExpression: null, timezone: 'UTC', startAt: null, endAt: null,
      payload: null, action: { type: 'log' }, misfirePolicy: 'fire_once', overlapPolicy: 'allow', maxLatenessMs: null,
      state: state as TaskInsert['state'], nextRunAt: new Date(later(1)), idempotencyKey: null, idempotencyHash: null,
    });
    const queue = new TaskInsertQueue(t.app.sql);
    // the state check constraint refuses the middle one, and with it the shared statement
    const res = await Promise.allSettled([queue.insert(row('beside 1')), queue.insert(row('refused', 'nonsense')), queue.insert(row('beside 2'))]);
    expect(res.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((res[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23514' });
    const [n] = await t.app.sql`select count(*)::int as n from tasks where name in ('beside 1', 'beside 2', 'refused')`;
    expect(n!.n).toBe(2);
  });
});

describe('instants through the set-based writes', () => {
  it('keep their milliseconds in a batch, a replace and a start/end window', async () => {
    const at = '2031-05-06T07:08:09.123Z';
    const tasks = [
      { name: 'ms', key: 'ms/1', schedule: { type: 'once', at } },
      { name: 'win', key: 'ms/2', schedule: { type: 'cron', expression: '*/5 * * * *', startAt: '2031-01-01T00:00:00.001Z', endAt: '2031-12-31T23:59:59.999Z' } },
    ];
    expect((await call('POST', '/api/tasks/batch', { tasks })).status).toBe(201);
    const a = (await call('GET', '/api/tasks/by-key/ms/1')).body;
    expect(a.schedule.at).toBe(at);
    expect(a.nextRunAt).toBe(at);
    const w = (await call('GET', '/api/tasks/by-key/ms/2')).body;
    expect([w.schedule.startAt, w.schedule.endAt]).toEqual(['2031-01-01T00:00:00.001Z', '2031-12-31T23:59:59.999Z']);
    const moved = '2031-05-06T07:08:09.999+02:00';
    const put = await call('PUT', '/api/tasks/by-key/ms/1', { name: 'ms', schedule: { type: 'once', at: moved } });
    expect(put.status).toBe(200);
    expect(put.body.nextRunAt).toBe(new Date(moved).toISOString());
  });
});
