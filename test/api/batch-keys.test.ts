// Batch create, client keys, prefix list/count/cancel, all against a real node.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyGuess, runBatch, type BatchEnv, type BatchJob } from '../../src/server/api/batch.js';
import { tasksDeleteByKeyPrefix } from '../../src/server/store/tasks.js';
import { injectJson, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const inFuture = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const call = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => injectJson(t, method, url, body, headers);

const count = async (where = 'true') => {
  const [row] = await t.app.sql.unsafe(`select count(*)::int as n from tasks where ${where}`);
  return row!.n as number;
};

describe('POST /api/tasks/batch', () => {
  it('creates tasks in input order and says what happened to each', async () => {
    const tasks = Array.from({ length: 5 }, (_, i) => ({ name: `b${i}`, key: `batch-a/${i}`, schedule: { type: 'once', at: inFuture() } }));
    const res = await call('POST', '/api/tasks/batch', { tasks });
    expect(res.status).toBe(201);
    expect(res.body.items.map((x: Json) => [x.name, x.key, x.outcome])).toEqual(tasks.map((x) => [x.name, x.key, 'created']));
    // again, with one changed: the rest are unchanged, the changed one replaced
    tasks[2]!.name = 'renamed';
    const again = await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    expect(again.status).toBe(201);
    expect(again.body.items.map((x: Json) => x.outcome)).toEqual(['unchanged', 'unchanged', 'replaced', 'unchanged', 'unchanged']);
    expect(Object.keys(again.body.items[0]).sort()).toEqual(['id', 'key', 'outcome']);
    expect(again.body.items[2].id).toBe(res.body.items[2].id);
  });

  it('stores every field as sent, and a replace can set them back to their defaults', async () => {
    const full = {
      name: 'full',
      key: 'batch-full/1',
      schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'Europe/Berlin', startAt: '2030-01-01T00:00:00.000Z', endAt: '2031-01-01T00:00:00.000Z' },
      payload: { a: [1, { b: null }] },
      action: { type: 'webhook', url: 'https://hooks.example.com/x', headers: { 'x-a': '1' } },
      misfirePolicy: 'skip',
      overlapPolicy: 'skip',
    };
    const res = await call('POST', '/api/tasks/batch', { tasks: [full] });
    const got = (await call('GET', '/api/tasks/by-key/batch-full/1')).body;
    expect(res.body.items[0].outcome).toBe('created');
    expect(got).toMatchObject({ schedule: full.schedule, payload: full.payload, misfirePolicy: 'skip', overlapPolicy: 'skip', action: { url: full.action.url, headers: full.action.headers } });
    expect(Date.parse(got.nextRunAt)).toBeGreaterThanOrEqual(Date.parse('2030-01-01T00:00:00Z'));
    const plain = { name: 'full', key: 'batch-full/1', schedule: { type: 'once', at: inFuture() } };
    const again = await call('POST', '/api/tasks/batch', { tasks: [plain] });
    expect(again.body.items[0]).toMatchObject({ outcome: 'replaced', kind: 'once', payload: null, action: { type: 'log' }, misfirePolicy: 'fire_once', overlapPolicy: 'allow', state: 'active', nextRunAt: plain.schedule.at });
  });

  it('stores text and JSON that array literals must escape exactly as sent, on create and on replace', async () => {
    const tricky = ['a "quoted" \\ back\\slash, {brace} ,', 'NULL', '', ' spaced ', 'é 😀 \\"\\\\', '{}', 'line\nbreak\ttab'];
    const payloads: unknown[] = [{ s: 'x"y\\z', n: null, arr: [1, 'NULL', '{a,b}'] }, 'NULL', '', 0, [null], { 'k"ey': '\\u0041' }, { t: 'a\nb\u2028c\\n' }];
    const at = inFuture();
    const tasks = tricky.map((name, i) => ({ name: name.trim() ? name : `blank-${i}`, key: `batch-esc/${i}`, schedule: { type: 'once', at }, payload: payloads[i] }));
    for (const round of ['created', 'replaced']) {
      if (round === 'replaced') tasks.forEach((t, i) => (t.payload = payloads[(i + 1) % payloads.length]));
      const res = await call('POST', '/api/tasks/batch', { tasks });
      expect(res.status).toBe(201);
      expect(res.body.items.map((x: Json) => x.outcome)).toEqual(tasks.map(() => round));
      for (const t of tasks) {
        const got = (await call('GET', `/api/tasks/by-key/${t.key}`)).body;
        expect([got.name, got.payload]).toEqual([t.name, t.payload]);
      }
    }
  });

  it('stores every shape of optional fields as sent, past the statement shapes kept prepared', async () => {
    // 8 optional fields, 256 shapes: more than the 64 statement texts kept (store/tasks.ts)
    const shapes = Array.from({ length: 256 }, (_, m) => {
      const bit = (b: number) => (m >> b) & 1;
      const schedule = bit(0)
        ? { type: 'cron', expression: '0 9 * * *', ...(bit(1) ? { timezone: 'Europe/Berlin' } : {}), ...(bit(2) ? { startAt: '2030-01-01T00:00:00.000Z' } : {}) }
        : { type: 'once', at: inFuture() };
      return {
        name: `shape-${m}`,
        schedule,
        ...(bit(3) ? { key: `batch-shape/${m}` } : {}),
        ...(bit(4) ? { payload: { m } } : {}),
        ...(bit(5) ? { misfirePolicy: 'skip' } : {}),
        ...(bit(6) ? { overlapPolicy: 'skip' } : {}),
        ...(bit(7) ? { maxLatenessMs: 1000 + m } : {}),
      };
    });
    for (let i = 0; i < shapes.length; i += 2) {
      const res = await call('POST', '/api/tasks/batch', { tasks: [shapes[i], shapes[i + 1]] });
      expect(res.status).toBe(201);
      for (const [j, item] of (res.body.items as Json[]).entries()) {
        const sent = shapes[i + j]! as Json;
        expect(item).toMatchObject({
          name: sent.name,
          key: sent.key ?? null,
          payload: sent.payload ?? null,
          misfirePolicy: sent.misfirePolicy ?? 'fire_once',
          overlapPolicy: sent.overlapPolicy ?? 'allow',
          schedule: sent.schedule,
        });
        expect(item.maxLatenessMs ?? null).toBe(sent.maxLatenessMs ?? null);
      }
    }
  });

  it('is all or nothing: every invalid item is named by index and nothing is stored', async () => {
    const before = await count();
    const tasks: Json[] = Array.from({ length: 30 }, (_, i) => ({ name: `x${i}`, schedule: { type: 'once', at: inFuture() } }));
    tasks[17].schedule.at = 'not a date';
    tasks[21].schedule = { type: 'cron', expression: '61 * * * *' };
    tasks[25].colour = 'red';
    const res = await call('POST', '/api/tasks/batch', { tasks });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BATCH_INVALID');
    expect(res.body.error.details.field).toBe('tasks[17].schedule.at');
    expect(res.body.error.details.errors.map((e: Json) => e.field)).toEqual(['tasks[17].schedule.at', 'tasks[21].schedule.expression', 'tasks[25].colour']);
    expect(await count()).toBe(before);
  });

  it('refuses two items with the same key, and a past instant for a new keyed task', async () => {
    const dup = await call('POST', '/api/tasks/batch', {
      tasks: [
        { name: 'a', key: 'dup/1', schedule: { type: 'once', at: inFuture() } },
        { name: 'b', key: 'dup/1', schedule: { type: 'once', at: inFuture() } },
      ],
    });
    expect(dup.status).toBe(400);
    expect(dup.body.error.details.errors[0].field).toBe('tasks[1].key');
    const past = await call('POST', '/api/tasks/batch', {
      tasks: [
        { name: 'a', key: 'past/1', schedule: { type: 'once', at: inFuture() } },
        { name: 'b', key: 'past/2', schedule: { type: 'once', at: '2020-01-01T00:00:00Z' } },
      ],
    });
    expect(past.status).toBe(400);
    expect(past.body.error.details.errors[0]).toMatchObject({ field: 'tasks[1].schedule.at', code: 'SCHEDULE_IN_PAST' });
    expect(await count(`key like 'past/%'`)).toBe(0);
  });

  it('limits the batch to 1,000 tasks', async () => {
    const tasks = Array.from({ length: 1001 }, (_, i) => ({ name: `n${i}`, schedule: { type: 'once', at: inFuture() } }));
    const res = await call('POST', '/api/tasks/batch', { tasks });
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('tasks');
    expect((await call('POST', '/api/tasks/batch', { tasks: [] })).status).toBe(400);
  });

  it('accepts 1,000 tasks of ordinary size within its own body limit, refuses a larger body with 413', async () => {
    const tasks = Array.from({ length: 1000 }, (_, i) => ({
      name: `ordinary reminder ${i}`,
      key: `size/${i}`,
      schedule: { type: 'once', at: inFuture() },
      payload: { userId: i, text: 'x'.repeat(1500) },
    }));
    const res = await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    expect(res.status).toBe(201);
    expect(res.body.items).toHaveLength(1000);
    const big = tasks.map((x) => ({ ...x, payload: { text: 'y'.repeat(5000) } }));
    const tooBig = await call('POST', '/api/tasks/batch', { tasks: big });
    expect(tooBig.status).toBe(413);
  });

  it('honours an Idempotency-Key: a replay returns the first answer and stores nothing more', async () => {
    const body = { tasks: [{ name: 'idem', schedule: { type: 'once', at: inFuture() } }] };
    const first = await call('POST', '/api/tasks/batch', body, { 'idempotency-key': 'batch-1' });
    const before = await count();
    const replay = await call('POST', '/api/tasks/batch', body, { 'idempotency-key': 'batch-1' });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(await count()).toBe(before);
    const other = await call('POST', '/api/tasks/batch', { tasks: [{ name: 'other', schedule: { type: 'once', at: inFuture() } }] }, { 'idempotency-key': 'batch-1' });
    expect(other.status).toBe(422);
  });
});

describe('client keys', () => {
  it('PUT creates (201) then replaces (200); an identical PUT changes nothing', async () => {
    const body = { name: 'r', schedule: { type: 'once', at: inFuture() }, payload: { b: 1, a: [1, 2] } };
    const c = await call('PUT', '/api/tasks/by-key/user-1/reminder-1', body);
    expect(c.status).toBe(201);
    expect(c.body.key).toBe('user-1/reminder-1');
    const same = await call('PUT', '/api/tasks/by-key/user-1/reminder-1', { ...body, payload: { a: [1, 2], b: 1 } });
    expect(same.status).toBe(200);
    expect(same.headers['sundial-outcome']).toBe('unchanged');
    expect(same.body.version).toBe(c.body.version);
    const changed = await call('PUT', '/api/tasks/by-key/user-1/reminder-1', { ...body, name: 'r2' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: c.body.id, name: 'r2', version: c.body.version + 1 });
    expect((await call('GET', '/api/tasks/by-key/user-1/reminder-1')).body.name).toBe('r2');
  });

  it('an identical PUT keeps a claimed occurrence; a new schedule cancels it', async () => {
    const at = inFuture(60_000);
    const body = { name: 'held', schedule: { type: 'once', at } };
    const c = await call('PUT', '/api/tasks/by-key/user-1/held', body);
    // what a claimer does: the occurrence becomes a pending run
    await t.app.sql`insert into runs (task_id, scheduled_for, status, node_id) values (${c.body.id}, ${at}, 'pending', 'n1')`;
    await t.app.sql`update tasks set next_run_at = null where id = ${c.body.id}`;
    await call('PUT', '/api/tasks/by-key/user-1/held', body);
    const [kept] = await t.app.sql`select status from runs where task_id = ${c.body.id}`;
    expect(kept!.status).toBe('pending');
    await call('PUT', '/api/tasks/by-key/user-1/held', { ...body, schedule: { type: 'once', at: inFuture(120_000) } });
    // not yet due, so not history: the claimed-ahead occurrence is removed (a new schedule may claim that instant)
    const gone = await t.app.sql`select status, reason from runs where task_id = ${c.body.id}`;
    expect(gone).toHaveLength(0);
  });

  it('replacing a completed one-time task with a future time re-arms it; the same past time leaves it completed', async () => {
    const c = await call('PUT', '/api/tasks/by-key/user-1/done', { name: 'd', schedule: { type: 'once', at: inFuture() } });
    const past = '2025-01-01T00:00:00.000Z';
    await t.app.sql`update tasks set state = 'completed', next_run_at = null, run_at = ${past} where id = ${c.body.id}`;
    const same = await call('PUT', '/api/tasks/by-key/user-1/done', { name: 'd', schedule: { type: 'once', at: past } });
    expect(same.status).toBe(200);
    expect(same.body.state).toBe('completed');
    const at = inFuture();
    const again = await call('PUT', '/api/tasks/by-key/user-1/done', { name: 'd', schedule: { type: 'once', at } });
    expect(again.body).toMatchObject({ state: 'active', nextRunAt: at });
  });

  it('racing PUTs of one key leave one task', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call('PUT', '/api/tasks/by-key/race/1', { name: `r${i}`, schedule: { type: 'once', at: inFuture() } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count(`key = 'race/1' and state <> 'deleted'`)).toBe(1);
  });

  it('POST with a key in use is 409 naming the task; PATCH and DELETE by key; a deleted key is free again', async () => {
    const c = await call('POST', '/api/tasks', { name: 'p', key: 'user-2/a', schedule: { type: 'once', at: inFuture() } });
    expect(c.status).toBe(201);
    const dup = await call('POST', '/api/tasks', { name: 'p', key: 'user-2/a', schedule: { type: 'once', at: inFuture() } });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'TASK_KEY_IN_USE', details: { field: 'key', taskId: c.body.id } });
    const p = await call('PATCH', '/api/tasks/by-key/user-2/a', { name: 'patched' });
    expect(p.body).toMatchObject({ id: c.body.id, name: 'patched' });
    expect((await call('DELETE', '/api/tasks/by-key/user-2/a')).status).toBe(204);
    expect((await call('GET', '/api/tasks/by-key/user-2/a')).status).toBe(404);
    const again = await call('POST', '/api/tasks', { name: 'p2', key: 'user-2/a', schedule: { type: 'once', at: inFuture() } });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(c.body.id);
  });

  it('refuses keys outside the alphabet', async () => {
    const res = await call('POST', '/api/tasks', { name: 'p', key: 'user 42', schedule: { type: 'once', at: inFuture() } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('key');
  });
});

describe('by prefix', () => {
  it('lists and counts by prefix, cancels every match in bounded transactions, claimed occurrences included', async () => {
    const tasks = Array.from({ length: 250 }, (_, i) => ({ name: `u${i}`, key: `user-42/${i}`, schedule: { type: 'once', at: inFuture() } }));
    await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    await call('POST', '/api/tasks/batch', { tasks: [{ name: 'other', key: 'user-420/x', schedule: { type: 'once', at: inFuture() } }] });
    const page = await call('GET', '/api/tasks?keyPrefix=user-42/&count=true&limit=10');
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(250);
    expect(page.body.items).toHaveLength(10);
    expect(page.body.items.every((x: Json) => x.key.startsWith('user-42/'))).toBe(true);
    // a claimed, unfired occurrence of one of them
    const [victim] = await t.app.sql`select id, run_at from tasks where key = 'user-42/7'`;
    await t.app.sql`insert into runs (task_id, scheduled_for, status, node_id) values (${victim!.id}, ${victim!.runAt}, 'pending', 'n1')`;
    const del = await call('DELETE', '/api/tasks?keyPrefix=user-42/');
    expect(del.body).toEqual({ cancelled: 250 });
    expect(await count(`key like 'user-42/%' and state <> 'deleted'`)).toBe(0);
    expect(await count(`key = 'user-420/x' and state <> 'deleted'`)).toBe(1);
    const [run] = await t.app.sql`select status from runs where task_id = ${victim!.id}`;
    expect(run!.status).toBe('skipped');
    // the departed user's history is still found by prefix
    const runs = await call('GET', '/api/runs?keyPrefix=user-42/');
    expect(runs.body.items.map((r: Json) => r.taskKey)).toEqual(['user-42/7']);
  });


  it('pages through a prefix newest first with its cursor and filters, and an emptied prefix lists nothing', async () => {
    // three batches: three creation instants, ties broken by id, as the unfiltered list does
    for (let b = 0; b < 3; b++) {
      const tasks = Array.from({ length: 9 }, (_, i) => ({ name: `p${b}-${i}`, key: `pager/${b}-${i}`, schedule: { type: 'once', at: inFuture() } }));
      await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    }
    const [held] = await t.app.sql`select id from tasks where key = 'pager/1-4'`;
    expect((await call('POST', `/api/tasks/${held!.id}/pause`)).status).toBe(200);
    const want = (await t.app.sql`select id from tasks where key like 'pager/%' order by created_at desc, id desc`).map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call('GET', `/api/tasks?keyPrefix=pager/&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((x: Json) => x.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(want);
    const paused = await call('GET', '/api/tasks?keyPrefix=pager/&state=paused&count=true');
    expect(paused.body.items.map((x: Json) => x.key)).toEqual(['pager/1-4']);
    expect(paused.body.total).toBe(1);
    expect((await call('DELETE', '/api/tasks?keyPrefix=pager/')).body).toEqual({ cancelled: 27 });
    const emptied = await call('GET', '/api/tasks?keyPrefix=pager/&count=true');
    expect(emptied.body).toEqual({ items: [], nextCursor: null, total: 0 });
  });

  it('lists tasks newest first, creates made back to back within a millisecond included', async () => {
    const made: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await call('POST', '/api/tasks', { name: `backtoback-${i}`, schedule: { type: 'once', at: inFuture() } });
      expect(r.status).toBe(201);
      made.push(r.body.id);
    }
    const listed = (await call('GET', '/api/tasks?q=backtoback-&limit=50')).body.items.map((x: Json) => x.id);
    expect(listed).toEqual([...made].reverse());
  });

  it('pages through one batch (one creation instant) and through runs of one millisecond without losing any', async () => {
    const tasks = Array.from({ length: 12 }, (_, i) => ({ name: `samebatch-${i}`, schedule: { type: 'once', at: inFuture() } }));
    await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    const want = (await t.app.sql`select id from tasks where name like 'samebatch-%' order by id desc`).map((r) => r.id);
    const pages = async (first: string, ids: (b: Json) => string[]) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await call('GET', `${first}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...ids(page.body));
        cursor = page.body.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await pages('/api/tasks?q=samebatch-&limit=5', (b) => b.items.map((x: Json) => x.id))).toEqual(want);
    // runs apart by microseconds within one millisecond (manual runs are stamped with now())
    const [task] = await t.app.sql`select id from tasks where name = 'samebatch-0'`;
    await t.app.sql`insert into runs (task_id, scheduled_for, trigger, status, reason)
      select ${task!.id}, timestamptz '2030-01-01 00:00:00.000100+00' + k * interval '100 microseconds', 'manual', 'skipped', 'test'
      from generate_series(0, 5) k`;
    const runs = (await t.app.sql`select id::text from runs where task_id = ${task!.id} order by scheduled_for desc, id desc`).map((r) => r.id);
    expect(await pages(`/api/runs?taskId=${task!.id}&limit=2`, (b) => b.items.map((x: Json) => String(x.id)))).toEqual(runs);
    // a cursor of the earlier form (an ISO instant) is still read: the page goes on after its id
    const legacy = Buffer.from(JSON.stringify(['2100-01-01T00:00:00.000Z', want[0]])).toString('base64url');
    const after = (await call('GET', `/api/tasks?q=samebatch-&limit=50&cursor=${legacy}`)).body.items.map((x: Json) => x.id);
    expect(after).toEqual(want.slice(1));
  });

  it('cancels in parallel small batches and still takes a row another transaction holds locked', async () => {
    const tasks = Array.from({ length: 53 }, (_, i) => ({ name: `l${i}`, key: `locked-user/${i}`, schedule: { type: 'once', at: inFuture() } }));
    await call('POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    // another transaction (an edit, a claim) holds one of them while the cancel runs: the
    // parallel passes skip it, the last pass waits for it
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = t.app.sql.begin(async (tx) => {
      await tx`select id from tasks where key = 'locked-user/17' for update`;
      locked();
      await held;
    });
    await isLocked;
    const cancel = tasksDeleteByKeyPrefix(t.app.sql, 'locked-user/', { batch: 5, parallel: 3 });
    await new Promise((r) => setTimeout(r, 300));
    // everything but the locked row is gone while it is held
    expect(await count(`key like 'locked-user/%' and state <> 'deleted'`)).toBe(1);
    release();
    await holder;
    expect(await cancel).toBe(53);
    expect(await count(`key like 'locked-user/%' and state <> 'deleted'`)).toBe(0);
  });
  it('refuses an empty prefix, and a delete without one', async () => {
    expect((await call('DELETE', '/api/tasks?keyPrefix=')).body.error.details.field).toBe('keyPrefix');
    expect((await call('DELETE', '/api/tasks')).status).toBe(400);
    expect((await call('GET', '/api/tasks?keyPrefix=')).status).toBe(400);
  });

  it('purge erases payloads on the task and its runs', async () => {
    const c = await call('PUT', '/api/tasks/by-key/forget-me/1', {
      name: 'f',
      schedule: { type: 'once', at: inFuture() },
      payload: { email: 'a@example.com' },
      action: { type: 'webhook', url: 'https://hooks.example.com/x', headers: { 'x-user': 'alice' }, body: { secret: 1 } },
    });
    await t.app.sql`insert into runs (task_id, scheduled_for, status, deliveries) values (${c.body.id}, now(), 'failed', ${t.app.sql.json([{ n: 1, response: 'alice' }] as never)})`;
    await call('DELETE', '/api/tasks?keyPrefix=forget-me/&purge=true');
    const [task] = await t.app.sql`select payload, action from tasks where id = ${c.body.id}`;
    expect(task!.payload).toBeNull();
    expect(task!.action).toEqual({ type: 'webhook', url: 'https://hooks.example.com/x', method: 'POST', timeoutMs: 10000, maxAttempts: 3 });
    const [run] = await t.app.sql`select deliveries from runs where task_id = ${c.body.id}`;
    expect(run!.deliveries).toBeNull();
  });
});

describe('resources returned as themselves', () => {
  it('POST /api/tasks/{id}/trigger answers with the Run', async () => {
    const c = await call('POST', '/api/tasks', { name: 'trig', schedule: { type: 'once', at: inFuture() } });
    const res = await call('POST', `/api/tasks/${c.body.id}/trigger`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ taskId: c.body.id, trigger: 'manual', status: 'pending' });
  });
});

describe('cancel by prefix reaches what a node holds', () => {
  it('occurrences already claimed by the node do not fire (no webhook request) after the prefix is deleted', async () => {
    let hits = 0;
    const receiver = createServer((_req, res) => {
      hits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const w = await startTestApp({ webhooks: { allow: '127.0.0.0/8' } });
    try {
      const post = (path: string, body: unknown, method = 'POST') =>
        w.app.http.inject({ method: method as 'POST', url: path, headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, payload: JSON.stringify(body) });
      // a control task outside the prefix proves the receiver and the node work
      const at = new Date(Date.now() + 4000).toISOString();
      const tasks = Array.from({ length: 20 }, (_, i) => ({ name: `held ${i}`, key: `leaving/${i}`, schedule: { type: 'once', at }, action: { type: 'webhook', url } }));
      tasks.push({ name: 'control', key: 'staying/1', schedule: { type: 'once', at }, action: { type: 'webhook', url } });
      expect((await post('/api/tasks/batch', { tasks })).statusCode).toBe(201);
      // wait until the node has claimed them (pending runs held in memory), before they are due
      const deadline = Date.now() + 3500;
      let pending = 0;
      while (Date.now() < deadline) {
        const [row] = await w.app.sql`select count(*)::int as n from runs r join tasks k on k.id = r.task_id where k.key like 'leaving/%' and r.status = 'pending'`;
        pending = row!.n;
        if (pending === 20) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(pending).toBe(20);
      const del = await w.app.http.inject({ method: 'DELETE', url: '/api/tasks?keyPrefix=leaving/' });
      expect(del.json()).toEqual({ cancelled: 20 });
      await new Promise((r) => setTimeout(r, Date.parse(at) - Date.now() + 2000));
      expect(hits).toBe(1); // the control task only
      const rows = await w.app.sql`select r.status from runs r join tasks k on k.id = r.task_id where k.key like 'leaving/%'`;
      expect(rows.map((r) => r.status)).toEqual(Array(20).fill('skipped'));
    } finally {
      await w.stop();
      receiver.close();
    }
  });
});

// A batch's first attempt assumes its keys are free and leaves out their read
// (KeyGuess in src/server/api/batch.ts): what the keys hold must still decide every
// item's outcome. runBatch against the real database, as the batch thread runs it.
const job = (tasks: object[]): BatchJob => ({
  body: new TextEncoder().encode(JSON.stringify({ tasks })),
  now: Date.now(),
  minimal: true,
  idempotencyKey: null,
  claim: null,
});
const outcomes = (body: string) => (JSON.parse(body) as { items: { id: string; outcome: string }[] }).items;
const live = async (prefix: string) =>
  (await t.app.sql<{ n: number }[]>`select count(*)::int as n from tasks where key like ${prefix + '%'} and state <> 'deleted'`)[0]!.n;

describe('a batch that guesses its keys are free', () => {
  it('creates new keys, and a batch sent again finds them: unchanged or replaced, never a second task', async () => {
    const keys = new KeyGuess(2);
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys };
    const at = inFuture();
    const tasks = Array.from({ length: 20 }, (_, i) => ({ name: `g${i}`, key: `guess-a/${i}`, schedule: { type: 'once', at } }));
    const first = await runBatch(env, job(tasks));
    expect(outcomes(first.body).map((x) => x.outcome)).toEqual(tasks.map(() => 'created'));
    expect(keys.reading).toBe(false);
    // the same file again, one item changed: the guess misses, the batch reads its keys
    tasks[5] = { ...tasks[5]!, name: 'renamed' };
    const again = await runBatch(env, job(tasks));
    const items = outcomes(again.body);
    expect(items.map((x) => x.outcome)).toEqual(tasks.map((_, i) => (i === 5 ? 'replaced' : 'unchanged')));
    expect(items.map((x) => x.id)).toEqual(outcomes(first.body).map((x) => x.id));
    expect(await live('guess-a/')).toBe(20);
    // after a miss the next batches read first, then the thread guesses again
    expect(keys.reading).toBe(true);
    await runBatch(env, job([{ name: 'n1', key: 'guess-a/new-1', schedule: { type: 'once', at } }]));
    await runBatch(env, job([{ name: 'n2', key: 'guess-a/new-2', schedule: { type: 'once', at } }]));
    expect(keys.reading).toBe(false);
  });

  it('an item refused as new is judged again against what its key holds', async () => {
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys: new KeyGuess() };
    const past = '2025-01-01T00:00:00.000Z';
    const made = await runBatch(env, job([{ name: 'done', key: 'guess-b/done', schedule: { type: 'once', at: inFuture() } }]));
    const id = outcomes(made.body)[0]!.id;
    await t.app.sql`update tasks set state = 'completed', next_run_at = null, run_at = ${past} where id = ${id}`;
    // a past instant is refused for a new task, and means "unchanged" for this completed one
    const same = await runBatch(env, job([{ name: 'done', key: 'guess-b/done', schedule: { type: 'once', at: past } }]));
    expect(outcomes(same.body)).toEqual([{ id, key: 'guess-b/done', outcome: 'unchanged' }]);
    // and for a key nobody holds it stays refused, naming the item
    await expect(runBatch(env, job([{ name: 'x', key: 'guess-b/free', schedule: { type: 'once', at: past } }]))).rejects.toMatchObject({
      code: 'BATCH_INVALID',
      details: { field: 'tasks[0].schedule.at' },
    });
  });

  it('racing batches that guess one new key leave one task', async () => {
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys: new KeyGuess() };
    const at = inFuture();
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => runBatch(env, job([{ name: `r${i}`, key: 'guess-c/race', schedule: { type: 'once', at } }, { name: `own${i}`, key: `guess-c/own-${i}`, schedule: { type: 'once', at } }]))),
    );
    const raced = answers.map((a) => outcomes(a.body)[0]!);
    expect(raced.filter((x) => x.outcome === 'created')).toHaveLength(1);
    expect(new Set(raced.map((x) => x.id)).size).toBe(1);
    expect(await live('guess-c/race')).toBe(1);
    expect(await live('guess-c/own-')).toBe(6);
  });
});
