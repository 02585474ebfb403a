// The typed client and the CLI against a real node; the OpenAPI document validates and
// the client's generated types are current.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sundial, SundialError, type StreamEvent } from 'sundial/client';
import { importTasks, runCli, type CliIO } from '../../dist/client/cli.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let sundial: Sundial;
beforeAll(async () => {
  t = await startTestApp();
  sundial = new Sundial({ url: t.url });
});
afterAll(async () => {
  await t?.stop();
});

const inFuture = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();

describe('the OpenAPI document', () => {
  it('validates (swagger-parser) as OpenAPI 3.1', async () => {
    const doc = (await (await fetch(`${t.url}/api/openapi.json`)).json()) as Record<string, unknown>;
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(doc as never)).resolves.toBeTruthy();
  });

  it('is what the client was generated from (npm run gen:client when this fails)', async () => {
    const doc = (await (await fetch(`${t.url}/api/openapi.json`)).json()) as Record<string, unknown>;
    const checkedIn = JSON.parse(readFileSync('src/client/openapi.json', 'utf8')) as { info: unknown };
    expect({ ...doc, info: undefined }).toEqual({ ...checkedIn, info: undefined });
    const generated = astToString(await openapiTS(checkedIn as never, { alphabetize: true }));
    expect(readFileSync('src/client/schema.gen.ts', 'utf8')).toContain(generated);
  });
});

describe('Sundial client', () => {
  it('creates, lists, gets, updates, triggers and deletes', async () => {
    const task = await sundial.tasks.create({ name: 'c1', schedule: { type: 'cron', expression: '0 9 * * *', timezone: 'Europe/Berlin' } });
    expect(task.kind).toBe('cron');
    expect((await sundial.tasks.get(task.id)).upcoming?.length).toBeGreaterThan(1);
    expect((await sundial.tasks.list({ q: 'c1' })).items.map((x) => x.id)).toContain(task.id);
    expect((await sundial.tasks.update(task.id, { name: 'c1b' })).name).toBe('c1b');
    const run = await sundial.tasks.trigger(task.id);
    expect(run.trigger).toBe('manual');
    await sundial.tasks.delete(task.id);
    const err = await sundial.tasks.get(task.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SundialError);
    expect(err).toMatchObject({ status: 404, code: 'TASK_NOT_FOUND', details: { field: 'id' } });
  });

  it('batches, and addresses tasks by keys with slashes and the other key characters', async () => {
    const res = await sundial.tasks.batch(
      Array.from({ length: 3 }, (_, i) => ({ name: `k${i}`, key: `client/u:1@x~y/${i}`, schedule: { type: 'once' as const, at: inFuture() } })),
      { minimal: true },
    );
    expect(res.items.map((i) => i.outcome)).toEqual(['created', 'created', 'created']);
    const got = await sundial.tasks.getByKey('client/u:1@x~y/1');
    expect(got.name).toBe('k1');
    const put = await sundial.tasks.put('client/u:1@x~y/1', { name: 'k1', schedule: got.schedule });
    expect(put.outcome).toBe('unchanged');
    expect((await sundial.tasks.updateByKey('client/u:1@x~y/1', { name: 'k1b' })).name).toBe('k1b');
    expect(await sundial.tasks.count({ keyPrefix: 'client/' })).toBe(3);
    await sundial.tasks.deleteByKey('client/u:1@x~y/0');
    expect(await sundial.tasks.deleteByPrefix('client/')).toBe(2);
    expect((await sundial.runs.list({ keyPrefix: 'client/' })).items).toEqual([]);
    const bad = await sundial.tasks.batch([{ name: 'x', schedule: { type: 'once', at: 'nope' } }]).catch((e: unknown) => e as SundialError);
    expect(bad).toMatchObject({ status: 400, code: 'BATCH_INVALID', details: { field: 'tasks[0].schedule.at' } });
  });

  it('covers the read endpoints', async () => {
    expect((await sundial.schedules.preview({ expression: '*/5 * * * *', count: 2 })).occurrences).toHaveLength(2);
    expect((await sundial.cluster()).nodes.length).toBeGreaterThan(0);
    expect(typeof (await sundial.stats()).tasks.active).toBe('number');
    expect(await sundial.signingSecrets()).toBeTruthy();
  });

  it('streams typed events', async () => {
    const ac = new AbortController();
    const seen: StreamEvent[] = [];
    const reading = (async () => {
      for await (const e of sundial.events({ signal: ac.signal })) {
        seen.push(e);
        if (e.type === 'hello') await sundial.tasks.create({ name: 'evt', schedule: { type: 'once', at: inFuture() } });
        if (e.type === 'tasks' && e.change === 'created') ac.abort();
      }
    })();
    await reading;
    expect(seen[0]!.type).toBe('hello');
    expect(seen.some((e) => e.type === 'tasks')).toBe(true);
  });
});

function io(stdin = ''): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: (s) => stdout.push(s), err: (s) => stderr.push(s), stdin: Readable.from([stdin]), tty: false, stdout, stderr };
}

describe('sundial CLI', () => {
  it('tasks add, list, get, rm and runs', async () => {
    const o = io();
    expect(await runCli(['tasks', 'add', '--url', t.url, '--name', 'cli', '--key', 'cli/a', '--at', inFuture()], o)).toBe(0);
    expect(o.stdout.join('')).toMatch(/cli\/a\s+cli\s+active/);
    const l = io();
    expect(await runCli(['--json', '--url', t.url, 'tasks', 'list', '--prefix', 'cli/'], l)).toBe(0);
    expect(JSON.parse(l.stdout.join('')).items.map((x: { key: string }) => x.key)).toEqual(['cli/a']);
    const g = io();
    expect(await runCli(['tasks', 'get', 'cli/a', '--url', t.url], g)).toBe(0);
    expect(g.stdout.join('')).toContain('cli/a');
    const r = io();
    expect(await runCli(['runs', '--url', t.url, '--prefix', 'cli/'], r)).toBe(0);
    expect(r.stdout.join('')).toMatch(/^ID\s+TASK/);
    const rm = io();
    expect(await runCli(['tasks', 'rm', '--url', t.url, '--prefix', 'cli/'], rm)).toBe(0);
    expect(rm.stdout.join('')).toBe('deleted 1 tasks\n');
    const missing = io();
    expect(await runCli(['tasks', 'get', 'cli/a', '--url', t.url], missing)).toBe(1);
    expect(missing.stderr.join('')).toMatch(/^sundial: 404 TASK_NOT_FOUND/);
    const usage = io();
    expect(await runCli(['tasks', 'add', '--url', t.url, '--name', 'x'], usage)).toBe(2);
  });

  it('tasks import: NDJSON through the batch endpoint, rejected lines named, safe to run again', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) =>
      JSON.stringify({ name: `imp ${i}`, key: `import/${i}`, schedule: { type: 'once', at: inFuture() } }),
    );
    lines[1234] = '{"name": "broken", ';
    lines[2001] = JSON.stringify({ name: 'bad', key: 'import/bad', schedule: { type: 'once', at: 'soon' } });
    const dir = mkdtempSync(join(tmpdir(), 'sundial-import-'));
    const file = join(dir, 'tasks.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const first = io();
    expect(await runCli(['tasks', 'import', file, '--url', t.url], first)).toBe(1);
    process.exitCode = 0;
    const text = first.stdout.join('');
    expect(text).toContain('2500 lines: 2498 created, 0 replaced, 0 unchanged, 2 rejected');
    expect(text).toContain('line 1235: not valid JSON');
    expect(text).toMatch(/line 2002: .*schedule\.at/);
    // again, from standard input: nothing new
    const again = await importTasks(sundial, Readable.from([lines.join('\n')]), { batchSize: 700 });
    expect(again).toMatchObject({ lines: 2500, created: 0, unchanged: 2498 });
    expect(await sundial.tasks.count({ keyPrefix: 'import/' })).toBe(2498);
  });
});
