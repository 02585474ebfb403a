// PostgreSQL restarts under a running node. The suite's shared PostgreSQL cannot be
// restarted, so this file starts its own embedded server (same supervised child the
// node uses) and restarts it on the same data directory and port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, eventually, type TestNode } from '../support/node.js';
import {
  allRuns, createCron, createOnce, everySecond, expectExactlyOnce, killAllNodes, node, openDb, sleep, wholeSecondIn, type Sql,
} from './cluster.js';

type Embedded = typeof import('../../src/server/store/embedded-postgres.js');
// the built module: it forks its compiled child (embedded-postgres-child.js) beside it
const { startEmbeddedPostgres, freePort } = (await import(
  new URL('../../dist/server/store/embedded-postgres.js', import.meta.url).href
)) as Embedded;

const dir = mkdtempSync(join(tmpdir(), 'sundial-pg-restart-'));
let pg: Awaited<ReturnType<Embedded['startEmbeddedPostgres']>> | undefined;
let sql: Sql | undefined;

afterAll(async () => {
  await killAllNodes();
  await sql?.end({ timeout: 1 });
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function diagnose(n: TestNode) {
  return `node exit ${n.process.exitCode} signal ${n.process.signalCode}; node log:\n${n.logs.slice(-15).join('\n')}`;
}

async function readyz(url: string) {
  return (await fetch(`${url}/readyz`).catch(() => undefined))?.status;
}

describe('PostgreSQL restart', () => {
  it('keeps the node up, reports not ready while down, and loses nothing', async () => {
    const port = await freePort();
    pg = await startEmbeddedPostgres(dir, port);
    const n = await node({ databaseUrl: pg.url });

    const s0 = wholeSecondIn(2500);
    const end = new Date(s0.getTime() + 20_000);
    const cron = await createCron(n.url, 'every-second', '* * * * * *', { startAt: s0, endAt: new Date(end.getTime() + 500) });
    const downAt = s0.getTime() + 3000;
    const downMs = 7000;
    // due while the database is down, and after it is back
    // (the last one: due well after the server is back, ~2 s after its restart began, and
    // after the claimer's back-off of up to 5 s that follows an outage)
    const onceAt = [...Array.from({ length: 10 }, (_, i) => downAt + 300 + i * 650), downAt + downMs + 10_000].map((t) => new Date(t));
    const onceIds = await Promise.all(onceAt.map((at, i) => createOnce(n.url, `once-${i}`, at)));

    await sleep(downAt - Date.now());
    await pg.stop();
    const stoppedAt = Date.now();
    // the node stays up and says it is not ready
    await eventually(async () => (await readyz(n.url)) === 503, 10_000, 200).catch((err) => {
      throw new Error(`${err.message}; ${diagnose(n)}`);
    });
    const notReady = await api(n.url, 'GET', '/readyz');
    expect(notReady.body.reason).toMatch(/database unreachable/);
    expect(n.process.exitCode).toBeNull();
    await sleep(downMs - (Date.now() - stoppedAt));
    expect(await readyz(n.url)).toBe(503);

    pg = await startEmbeddedPostgres(dir, port);
    const upAt = Date.now();
    await eventually(async () => (await readyz(n.url)) === 200, 20_000, 100).catch(async (err) => {
      const last = await api(n.url, 'GET', '/readyz').catch((e) => ({ status: 0, body: String(e) }));
      throw new Error(`${err.message}; /readyz: ${last.status} ${JSON.stringify(last.body)}; ${diagnose(n)}`);
    });
    const readyAgainMs = Date.now() - upAt;

    await sleep(Math.max(end.getTime(), onceAt[onceAt.length - 1]!.getTime()) + 2500 - Date.now());
    sql = openDb(pg.url);
    const runs = await allRuns(sql);

    // one-time tasks: every one fired once; those due during the outage once it was back
    expectExactlyOnce(runs, new Map(onceIds.map((id, i) => [id, [onceAt[i]!.getTime()]])));
    const once = runs.filter((r) => onceIds.includes(r.taskId));
    for (const r of once) {
      // fired from memory if claimed before the outage (recorded later), else soon after it
      expect(r.startedAt!.getTime()).toBeLessThan(Math.max(r.scheduledFor.getTime(), upAt) + 10_000);
    }
    // the task created (201) before the outage and due after it fired on time
    expect(once.find((r) => r.taskId === onceIds[onceIds.length - 1])!.lagMs!).toBeLessThan(1000);

    // the cron: every second has exactly one row; each fired or, if it could not start
    // within 10 s, skipped with its reason; nothing due after the outage is late
    const cronRuns = runs.filter((r) => r.taskId === cron);
    expect(cronRuns.map((r) => r.scheduledFor.getTime())).toEqual(everySecond(s0, end));
    for (const r of cronRuns) {
      if (r.status === 'skipped') expect(r.reason).toMatch(/misfired/);
      else expect(r.status).toBe('succeeded');
      if (r.scheduledFor.getTime() > upAt + 6000) expect(r.lagMs!).toBeLessThan(1000);
    }
    const maxLag = Math.max(...[...once, ...cronRuns].filter((r) => r.lagMs !== null).map((r) => r.lagMs!));
    console.log(
      `PostgreSQL down ${Math.round((upAt - stoppedAt) / 1000)} s: ready again ${readyAgainMs} ms after it was back; ` +
        `${once.length} one-time fired once; cron ${cronRuns.filter((r) => r.status === 'succeeded').length} fired, ` +
        `${cronRuns.filter((r) => r.status === 'skipped').length} skipped; max lag ${Math.round(maxLag)} ms`,
    );
  });
});
