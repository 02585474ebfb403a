// PostgreSQL away for longer than a lease under two live nodes that claim ahead. Both
// keep firing what they hold, on time, while the database is down; when it is back,
// every lease has lapsed at once, and neither node may take the other's runs over
// before that node has had a lease to check in (its results are still buffered, so a
// rescue would fire them twice). Runs its own embedded server, restarted in place.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/node.js';
import { startPgProxy, type PgProxy } from '../support/pg-proxy.js';
import { allRuns, createOnce, expectExactlyOnce, heldBy, killAllNodes, node, openDb, pool, sleep, type Sql } from './cluster.js';

type Embedded = typeof import('../../src/server/store/embedded-postgres.js');
const { startEmbeddedPostgres, freePort } = (await import(
  new URL('../../dist/server/store/embedded-postgres.js', import.meta.url).href
)) as Embedded;

const dir = mkdtempSync(join(tmpdir(), 'sundial-outage-'));
let pg: Awaited<ReturnType<Embedded['startEmbeddedPostgres']>> | undefined;
const conns: Sql[] = [];
let proxy: PgProxy | undefined;

afterAll(async () => {
  await killAllNodes();
  await proxy?.close();
  for (const c of conns) await c.end({ timeout: 1 }).catch(() => {});
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const readyz = async (url: string) => (await fetch(`${url}/readyz`).catch(() => undefined))?.status;

describe('database outage longer than a lease', () => {
  it('held occurrences fire on time through it, and no node rescues a live node\'s runs afterwards', { timeout: 120_000 }, async () => {
    const port = await freePort();
    pg = await startEmbeddedPostgres(dir, port);
    const env = { SUNDIAL_CLAIM_AHEAD_MS: '45000', SUNDIAL_LEASE_MS: '3000', SUNDIAL_HEARTBEAT_MS: '1000' };
    // b reaches the database through a proxy, so it can get it back later than a does
    proxy = await startPgProxy(pg.url);
    const a = await node({ databaseUrl: pg.url, env });
    const b = await node({ databaseUrl: proxy.url, env });

    const downAt = Date.now() + 6000;
    const downMs = 8000; // more than twice the lease
    // due while it is down, and in the seconds after it is back (still held, not yet fired:
    // what a node that rescued too early would take and fire a second time)
    const at = [
      ...Array.from({ length: 40 }, (_, i) => new Date(downAt + 500 + i * 170)),
      ...Array.from({ length: 40 }, (_, i) => new Date(downAt + downMs + 1500 + i * 150)),
    ];
    const ids = await pool(at, 8, (t, i) => createOnce(i % 2 ? a.url : b.url, `out-${i}`, t));
    // claimed ahead before the outage, shared between the two nodes
    let sql = openDb(pg.url);
    conns.push(sql);
    const holders = await eventually(async () => {
      const [ha, hb] = [await heldBy(sql, a.nodeId), await heldBy(sql, b.nodeId)];
      const mine = (h: typeof ha) => h.filter((r) => ids.includes(r.taskId)).length;
      return mine(ha) + mine(hb) === ids.length ? { a: mine(ha), b: mine(hb) } : undefined;
    }, 5000);
    await sql.end();

    await sleep(downAt - Date.now());
    await pg.stop();
    proxy.down();
    const stoppedAt = Date.now();
    await sleep(downMs - (Date.now() - stoppedAt));
    pg = await startEmbeddedPostgres(dir, port);
    const upAt = Date.now();
    // a is back at once and finds every lease lapsed, b's included; b follows 1.5 s later
    await sleep(1500);
    proxy.up();
    await eventually(async () => (await readyz(a.url)) === 200 && (await readyz(b.url)) === 200, 20_000);
    // one lease and more for anyone who wanted to rescue, and for the buffered results
    await sleep(Math.max(6000, at[at.length - 1]!.getTime() + 3000 - Date.now()));

    sql = openDb(pg.url);
    conns.push(sql);
    const runs = (await allRuns(sql)).filter((r) => ids.includes(r.taskId));
    expectExactlyOnce(runs, new Map(ids.map((id, i) => [id, [at[i]!.getTime()]])));
    for (const r of runs) {
      expect(r.status).toBe('succeeded');
      // fired from memory at its time, the database there or not (b's while only a had it)
      expect(r.lagMs!, `${r.taskName} lag`).toBeLessThan(1000);
      if (r.scheduledFor.getTime() < stoppedAt + downMs - 500) expect(r.startedAt!.getTime()).toBeLessThan(upAt);
      // by the node that claimed it: nobody rescued a live node's runs
      expect(r.attempt, `${r.taskName} was rescued`).toBe(1);
    }
    const graceLogged = [a, b].every((n) => n.logs.some((l) => l.includes('database reachable again')));
    expect(graceLogged, 'both nodes waited one lease before rescuing').toBe(true);
    console.log(
      `outage ${Math.round((upAt - stoppedAt) / 1000)} s (lease 3 s): ${runs.length} held occurrences (a ${holders.a}, b ${holders.b}), ` +
        `${runs.filter((r) => r.startedAt!.getTime() < upAt).length} fired during it, max lag ${Math.round(Math.max(...runs.map((r) => r.lagMs!)))} ms; none rescued, none twice`,
    );
  });
});
