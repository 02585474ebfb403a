// Single-create probe: one Sundial node on a fresh database, `--in-flight` POST /api/tasks
// for `--sec` seconds; meanwhile samples pg_stat_activity's wait events and the CPU of the
// node, the client and PostgreSQL. Where the time of one create goes.
// Options: --sec=10 --in-flight=16 --preload=0 (tasks loaded first through the batch API)
//          --root=DIR (the checkout whose dist/ to run; default this one) --cpu-prof=DIR
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { Pool } from 'undici';
import { freePort, sleep, waitFor } from './lib.js';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const SEC = Number(arg('sec') ?? 10);
const IN_FLIGHT = Number(arg('in-flight') ?? 16);
const PRELOAD = Number(arg('preload') ?? 0);
const ROOTS = (arg('root') ?? HERE).split(',').map((r) => resolve(r));
const ROUNDS = Number(arg('rounds') ?? 1);
const CPU_PROF = arg('cpu-prof');
// fetch, or undici's request on a keep-alive pool (what fetch wraps, without the WHATWG streams)
const CLIENT = arg('client') ?? 'fetch';
const log = (...a: unknown[]) => console.log(new Date().toISOString().slice(11, 19), ...a);

const work = mkdtempSync(join(tmpdir(), 'sundial-single-'));
chmodSync(work, 0o755);
const { startEmbeddedPostgres } = (await import(join(HERE, 'dist/server/store/embedded-postgres.js'))) as typeof import('../src/server/store/embedded-postgres.js');
const pg = await startEmbeddedPostgres(join(work, 'pg'));
const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
const benchUrl = pg.url.replace(/\/postgres$/, '/bench');

const ticks = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};
const pgPids = async (db: postgres.Sql) => (await db<{ pid: number }[]>`select pid from pg_stat_activity where datname = 'bench'`).map((r) => r.pid);

async function round(root: string) {
  await admin`drop database if exists bench with (force)`;
  await admin`create database bench`;
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${resolve(CPU_PROF)}`] : []), 'bin/sundial.js', 'serve'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DATABASE_URL: benchUrl, PORT: String(port), HOST: '127.0.0.1', SUNDIAL_NODE_ID: 'probe-1', LOG_LEVEL: 'error' },
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('readyz', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok === true, 60_000);
  const t0 = Date.now() + 3_600_000;
  for (let c = 0; c < PRELOAD / 1000; c++) {
    const tasks = Array.from({ length: 1000 }, (_, j) => ({ key: `p/${c * 1000 + j}`, name: `pre ${j}`, schedule: { type: 'once', at: new Date(t0 + j).toISOString() } }));
    const r = await fetch(`${base}/api/tasks/batch`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body: JSON.stringify({ tasks }) });
    await r.arrayBuffer();
  }
  const db = postgres(benchUrl, { max: 1, onnotice: () => {} });
  const waits = new Map<string, number>();
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rows = await db<{ w: string; n: number }[]>`
        select coalesce(wait_event_type || ':' || wait_event, 'CPU') as w, count(*)::int as n from pg_stat_activity
        where datname = 'bench' and state = 'active' and pid <> pg_backend_pid() group by 1`;
      samples++;
      for (const r of rows) waits.set(r.w, (waits.get(r.w) ?? 0) + r.n);
      await sleep(5);
    }
  })();
  const pids = await pgPids(db);
  const node0 = ticks(child.pid!);
  const pg0 = pids.map(ticks).reduce((a, b) => a + b, 0);
  const me0 = process.cpuUsage();
  const end = Date.now() + SEC * 1000;
  let done = 0;
  const lat: number[] = [];
  const pool = new Pool(base, { connections: IN_FLIGHT });
  const post = async (body: string) => {
    if (CLIENT === 'undici') {
      const r = await pool.request({ path: '/api/tasks', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (r.statusCode !== 201) throw new Error(`${r.statusCode} ${await r.body.text()}`);
      await r.body.dump();
      return;
    }
    const r = await fetch(`${base}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (r.status !== 201) throw new Error(`${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  };
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      let i = w;
      while (Date.now() < end) {
        const s = performance.now();
        await post(JSON.stringify({ name: `single ${i}`, schedule: { type: 'once', at: new Date(t0 + i).toISOString() }, payload: { i } }));
        lat.push(performance.now() - s);
        done++;
        i += IN_FLIGHT;
      }
    }),
  );
  const me = process.cpuUsage(me0);
  await pool.close();
  const pids2 = await pgPids(db);
  const nodeMs = (ticks(child.pid!) - node0) * 10;
  const pgMs = pids2.map(ticks).reduce((a, b) => a + b, 0) - pg0 * 1;
  sampling = false;
  await sampler;
  // one created_at per statement (now() is the transaction's start): creates per INSERT
  const [st] = await db<{ n: number; stmts: number }[]>`select count(*)::int as n, count(distinct created_at)::int as stmts from tasks where key is null`;
  await db.end();
  lat.sort((a, b) => a - b);
  const per1k = (ms: number) => ((ms / done) * 1000).toFixed(0);
  log(`${root}: ${Math.round(done / SEC)}/s, p50 ${lat[lat.length >> 1]!.toFixed(1)} ms; CPU per 1,000 creates: node ${per1k(nodeMs)} ms, client ${per1k((me.user + me.system) / 1000)} ms, PostgreSQL backends ${per1k(pgMs * 10)} ms; ${(st!.n / st!.stmts).toFixed(1)} creates per INSERT`);
  log(`  active backends by wait (mean over ${samples} samples): ${[...waits].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / samples).toFixed(2)}`).join(', ')}`);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return done / SEC;
}

const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) for (const root of ROOTS) {
  const v = await round(root);
  results.set(root, [...(results.get(root) ?? []), v]);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
for (const [root, v] of results) log(`${root}: median ${Math.round(median(v))}/s over ${v.length} rounds (${v.map(Math.round).join(', ')})`);
await admin.end();
await pg.stop();
rmSync(work, { recursive: true, force: true });
