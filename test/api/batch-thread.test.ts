// POST /api/tasks/batch runs in the batch thread (src/server/api/batch-thread.ts): off
// the firing thread, at a lower CPU priority, its PostgreSQL backends too. Real node,
// real database, real threads and processes read from /proc.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchThread, BatchThreads } from '../../src/server/api/batch-thread.js';
import { BULK_NICE, isLocalBackend } from '../../src/server/store/background.js';
import { injectJson, startTestApp, type TestApp } from '../support/app.js';

/** nice value of a process or thread (field 19 of its stat line) */
const niceOf = (path: string) => Number(readFileSync(path, 'utf8').replace(/^.*\) /s, '').split(' ')[16]);
const threadNices = () => new Map(readdirSync('/proc/self/task').map((tid) => [tid, niceOf(`/proc/self/task/${tid}/stat`)]));
/** the nice value of a process's scheduling group (autogroup: "/autogroup-123 nice 10") */
const groupNiceOf = (pid: number) => Number(readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim().split(' ').pop());
const inFuture = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();

/** a one-task batch job, as the route hands it to the thread */
const job = (name: string) => ({
  body: new TextEncoder().encode(JSON.stringify({ tasks: [{ name, schedule: { type: 'once', at: inFuture() } }] })),
  now: Date.now(),
  minimal: true,
  idempotencyKey: null,
  claim: null,
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ nodeId: `batch-thread-${Math.random().toString(36).slice(2, 8)}` });
});
afterAll(async () => {
  await t?.stop();
});

const call = (url: string, body: string | object, headers: Record<string, string> = {}) =>
  t.app.http.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

describe('the batch thread', () => {
  it('runs batches in a thread and PostgreSQL backend at a lower priority, and leaves the node thread as it was', async () => {
    const before = threadNices();
    expect([...before.values()].filter((n) => n === BULK_NICE)).toHaveLength(0);
    const tasks = Array.from({ length: 50 }, (_, i) => ({ name: `p${i}`, key: `prio/${i}`, schedule: { type: 'once', at: inFuture() } }));
    const res = await injectJson(t, 'POST', '/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    expect(res.status).toBe(201);
    // the batch thread (and the module-hooks thread it starts) at BULK_NICE; the node's own threads keep their value
    const after = threadNices();
    const lowered = [...after].filter(([, n]) => n === BULK_NICE).map(([tid]) => tid);
    expect(lowered.length).toBeGreaterThanOrEqual(1);
    for (const tid of lowered) expect(before.has(tid)).toBe(false);
    for (const [tid, n] of before) if (after.has(tid)) expect(after.get(tid)).toBe(n);
    const own = before.get(String(process.pid))!;
    expect(niceOf('/proc/self/stat')).toBe(own);
    // the bulk pool's backend (PostgreSQL on this machine in the tests) was reniced
    const backends = await t.app.sql<{ pid: number }[]>`
      select pid from pg_stat_activity where application_name = ${`sundial:${t.app.config.nodeId}:bulk`}`;
    expect(backends.length).toBeGreaterThan(0);
    for (const b of backends) expect(niceOf(`/proc/${b.pid}/stat`)).toBe(BULK_NICE);
    // where the kernel groups processes by session, the backend's group too (each backend leads its own session)
    const grouped = existsSync('/proc/self/autogroup');
    if (grouped) for (const b of backends) expect(groupNiceOf(b.pid)).toBe(BULK_NICE);
    // the API's and the engine's backends were not
    const others = await t.app.sql<{ pid: number }[]>`
      select pid from pg_stat_activity where application_name in (${`sundial:${t.app.config.nodeId}`}, ${`sundial:${t.app.config.nodeId}:engine`})`;
    expect(others.length).toBeGreaterThan(0);
    for (const b of others) expect(niceOf(`/proc/${b.pid}/stat`)).toBe(own);
    if (grouped) for (const b of others) expect(groupNiceOf(b.pid)).not.toBe(BULK_NICE);
  });

  it('refuses what the body parser and the input guard refuse on other routes, naming the field', async () => {
    const bad = await call('/api/tasks/batch', '{"tasks": [');
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'INVALID_JSON']);
    const empty = await call('/api/tasks/batch', ' ');
    expect([empty.statusCode, empty.json().error.code]).toEqual([400, 'INVALID_JSON']);
    const proto = await call('/api/tasks/batch', `{"tasks": [{"name": "x", "schedule": {"type": "once", "at": "${inFuture()}"}, "__proto__": {"a": 1}}]}`);
    expect(proto.statusCode).toBe(400);
    const nul = await call('/api/tasks/batch', { tasks: [{ name: 'ok', schedule: { type: 'once', at: inFuture() } }, { name: 'a\u0000b', schedule: { type: 'once', at: inFuture() } }] });
    expect(nul.statusCode).toBe(400);
    expect(nul.json().error.details.field).toMatch(/^tasks\.1\.name$|^tasks\[1\]\.name$/);
    const notJson = await t.app.http.inject({ method: 'POST', url: '/api/tasks/batch', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect(notJson.statusCode).toBe(415);
    const [{ n }] = await t.app.sql<{ n: number }[]>`select count(*)::int as n from tasks where name in ('ok', 'x')`;
    expect(n).toBe(0);
  });
});

describe('BatchThread', () => {
  it('starts a new thread after its thread died; the batches the dead one held fail', async () => {
    const thread = new BatchThread({ databaseUrl: t.db.url, connections: 2, applicationName: 'batch-thread-test', lookaheadMs: 2000 }, pino({ level: 'silent' }));
    try {
      const first = await thread.run(job('thread-1'));
      expect(first.status).toBe(201);
      const w = (thread as unknown as { worker: { terminate(): Promise<number> } }).worker;
      const held = thread.run(job('thread-2'));
      await w.terminate();
      // its COMMIT may have landed: the node is told to look for runs it claimed
      await expect(held).rejects.toMatchObject({ message: expect.stringMatching(/batch thread exited/), claimedBeforeFailure: true });
      const again = await thread.run(job('thread-3'));
      expect(again.status).toBe(201);
      const names = (await t.app.sql<{ name: string }[]>`select name from tasks where name like 'thread-%' order by name`).map((r) => r.name);
      expect(names).toContain('thread-1');
      expect(names).toContain('thread-3');
    } finally {
      await thread.stop();
    }
    await expect(thread.run({ body: new Uint8Array(), now: Date.now(), minimal: true, idempotencyKey: null, claim: null })).rejects.toMatchObject({ code: 'NODE_STOPPING' });
  });
});

describe('BatchThread when idle', () => {
  it('ends its thread after the idle time and starts one for the next batch', async () => {
    const thread = new BatchThread({ databaseUrl: t.db.url, connections: 1, applicationName: 'batch-thread-idle', lookaheadMs: 2000 }, pino({ level: 'silent' }), 300);
    try {
      expect(thread.started).toBe(false);
      expect((await thread.run(job('idle-1'))).status).toBe(201);
      expect(thread.started).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      expect(thread.started).toBe(false);
      // its pool was closed with it
      const [{ n }] = await t.app.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'batch-thread-idle'`;
      expect(n).toBe(0);
      expect((await thread.run(job('idle-2'))).status).toBe(201);
    } finally {
      await thread.stop();
    }
  });
});

describe('BatchThreads', () => {
  it('starts a second thread only while the first has a batch in flight, and splits the connections', async () => {
    const name = 'batch-threads-test';
    const threads = new BatchThreads({ databaseUrl: t.db.url, connections: 4, applicationName: name, lookaheadMs: 2000 }, pino({ level: 'silent' }), 2);
    try {
      expect(threads.started).toBe(0);
      for (const n of ['pool-1', 'pool-2']) expect((await threads.run(job(n))).status).toBe(201);
      // one after the other: the first thread takes both
      expect(threads.started).toBe(1);
      const answers = await Promise.all(['pool-3', 'pool-4', 'pool-5'].map((n) => threads.run(job(n))));
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
      expect(threads.started).toBe(2);
      const names = (await t.app.sql<{ name: string }[]>`select name from tasks where name like 'pool-%' order by name`).map((r) => r.name);
      expect(names).toEqual(['pool-1', 'pool-2', 'pool-3', 'pool-4', 'pool-5']);
      // two connections each, never more than the four asked for
      const [{ n }] = await t.app.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = ${name}`;
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(4);
    } finally {
      await threads.stop();
    }
    await expect(threads.run(job('pool-6'))).rejects.toMatchObject({ code: 'NODE_STOPPING' });
  });
});

describe('isLocalBackend', () => {
  it('knows a PostgreSQL backend of this machine by its client port, and nothing else', async () => {
    const [me] = await t.app.sql<{ pid: number; port: number }[]>`select pg_backend_pid() as pid, inet_client_port() as port`;
    expect(isLocalBackend(me!.pid, me!.port)).toBe(true);
    expect(isLocalBackend(me!.pid, me!.port + 1)).toBe(false);
    expect(isLocalBackend(process.pid, me!.port)).toBe(false);
    expect(isLocalBackend(2 ** 22 + 12345, me!.port)).toBe(false);
  });
});
