// Bulk registration, side by side in one run (`npm run bench:bulk`):
//   load     N one-time tasks with keys, each system through its own bulk call and its own
//            kind of key, `inFlight` calls at a time: Sundial POST /api/tasks/batch (1,000 a
//            request, Prefer: return=minimal, `key`), graphile-worker addJobs (`jobKey`),
//            pg-boss insert (`singletonKey` on a queue of policy short: one queued job a key),
//            BullMQ addBulk (`jobId`). The same loads without keys (`graphile-nokeys`,
//            `pgboss-nokeys`, `bullmq-nokeys`) show each peer's fastest path beside them.
//   single   single creates with 16 in flight for `singleSec` seconds: POST /api/tasks
//            against pg-boss send, graphile-worker addJob and BullMQ add
//   cancel   DELETE /api/tasks?keyPrefix= over a tenth of the loaded tasks
//            (100,000 when N is 1,000,000), then none of them left to fire
// Every system gets a fresh database (and an empty Redis) on the same embedded PostgreSQL.
// Options: --n=1000000 --in-flight=4 --single-sec=10
//          --systems=sundial,graphile,pgboss,bullmq,graphile-nokeys,pgboss-nokeys,bullmq-nokeys
//          --cpu-prof=DIR (the Sundial node writes a V8 CPU profile there)
//          --pg-stats (pg_stat_statements: the statements that took the most time, per system)
//          --waits (what PostgreSQL's backends waited on during the load, sampled every 10 ms)
//          --pg-set=k=v,k=v (PostgreSQL settings for the run, every system alike; a diagnostic)
//          --sundial-roots=DIR,DIR (Sundial from each of these checkouts' dist/, e.g. main's
//            beside this branch: system ids sundial@0, sundial@1, ...; default this checkout)
//          --rounds=R (the list of systems R times over, alternating; medians at the end)
// Sundial's client is undici's request on a keep-alive pool: fetch spent ~500 µs of the
// two cores' CPU per request in the client, more than the node took to serve it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { Pool } from 'undici';
import { freePort, pgCpu, procUsage, sleep, waitFor } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const N = Number(arg('n') ?? 1_000_000);
const IN_FLIGHT = Number(arg('in-flight') ?? 4);
const SINGLE_SEC = Number(arg('single-sec') ?? 10);
const SINGLE_IN_FLIGHT = 16;
const SUNDIAL_ROOTS = (arg('sundial-roots') ?? ROOT).split(',').map((r) => resolve(r));
const ROUNDS = Number(arg('rounds') ?? 1);
const SYSTEMS = (arg('systems') ?? 'sundial,graphile,pgboss,bullmq,graphile-nokeys,pgboss-nokeys,bullmq-nokeys')
  .split(',')
  .flatMap((id) => (id === 'sundial' ? SUNDIAL_ROOTS.map((_, k) => `sundial@${k}`) : [id]));
const CPU_PROF = arg('cpu-prof');
const PG_STATS = args.includes('--pg-stats');
const WAITS = args.includes('--waits');
/** server settings for this run (a diagnostic): --pg-set=shared_buffers=512MB,wal_compression=lz4 */
const PG_SET = (args.find((a) => a.startsWith('--pg-set='))?.slice('--pg-set='.length) ?? '')
  .split(',')
  .filter(Boolean)
  .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const);
// dropping a benchmark database ends the idle connections of the peer's pool it left behind
process.on('uncaughtException', (err: Error & { code?: string }) => {
  if (err.code === '57P01') return;
  throw err;
});
const log = (...a: unknown[]) => console.log(new Date().toISOString().slice(11, 19), ...a);

// ------------------------------------------------------------------ infrastructure

const work = mkdtempSync(join(tmpdir(), 'sundial-bulk-'));
chmodSync(work, 0o755); // as root, initdb runs as the postgres user
const { startEmbeddedPostgres } = (await import(join(ROOT, 'dist/server/store/embedded-postgres.js'))) as typeof import('../src/server/store/embedded-postgres.js');
const pg = await startEmbeddedPostgres(join(work, 'pg'));
const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
let benchUrl = pg.url.replace(/\/postgres$/, '/bench');
if (PG_STATS || PG_SET.length) {
  if (PG_STATS) await admin`alter system set shared_preload_libraries = 'pg_stat_statements'`;
  for (const [k, v] of PG_SET) await admin.unsafe(`alter system set ${k} = '${v}'`);
  await admin.end();
  await pg.stop();
  Object.assign(pg, await startEmbeddedPostgres(join(work, 'pg')));
  benchUrl = pg.url.replace(/\/postgres$/, '/bench');
}
const sqlAdmin = postgres(pg.url, { max: 1, onnotice: () => {} });
const postmasterPid = () => Number(readFileSync(join(work, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);

let redis: ChildProcess | undefined;
let redisPort: number | undefined;
if (SYSTEMS.includes('bullmq')) {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status === 0) {
    redisPort = await freePort();
    mkdirSync(join(work, 'redis'));
    redis = spawn('redis-server', ['--appendonly', 'yes', '--appendfsync', 'everysec', '--port', String(redisPort), '--dir', join(work, 'redis'), '--save', '', '--bind', '127.0.0.1'], { stdio: 'ignore' });
    const { Redis } = await import('ioredis');
    const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    await waitFor('redis', async () => (await probe.connect().then(() => probe.ping()).catch(() => undefined)) === 'PONG', 10_000);
    probe.disconnect();
  } else log('redis-server is not installed: BullMQ skipped');
}

async function reset() {
  await sqlAdmin`drop database if exists bench with (force)`;
  await sqlAdmin`create database bench`;
  if (PG_STATS) {
    const db = postgres(benchUrl, { max: 1, onnotice: () => {} });
    await db`create extension if not exists pg_stat_statements`;
    await db`select pg_stat_statements_reset()`;
    await db.end();
  }
  if (redisPort) {
    const { Redis } = await import('ioredis');
    const r = new Redis({ port: redisPort, host: '127.0.0.1' });
    await r.flushall();
    r.disconnect();
  }
}

/** A count(*) in the benchmark database. */
async function benchCount(query: string): Promise<number> {
  const db = postgres(benchUrl, { max: 1, onnotice: () => {} });
  try {
    const [r] = await db.unsafe(query);
    return Number(r!.count);
  } finally {
    await db.end();
  }
}

/** WAL written so far: bytes, full-page images, checkpoints (pg_stat_wal, pg_stat_checkpointer). */
async function walState(): Promise<{ bytes: number; fpi: number; checkpoints: number }> {
  const [r] = await sqlAdmin<{ bytes: string; fpi: string; checkpoints: string }[]>`
    select pg_current_wal_lsn() - '0/0'::pg_lsn as bytes, (select wal_fpi from pg_stat_wal) as fpi,
           (select num_done from pg_stat_checkpointer) as checkpoints`;
  return { bytes: Number(r!.bytes), fpi: Number(r!.fpi), checkpoints: Number(r!.checkpoints) };
}

async function topStatements(label: string) {
  if (!PG_STATS) return;
  const db = postgres(benchUrl, { max: 1, onnotice: () => {} });
  const rows = await db`
    select calls, round(total_exec_time)::int as ms, rows, shared_blks_hit + shared_blks_read as blocks, q
    from pg_stat_statements, regexp_replace(query, '\\s+', ' ', 'g') as q order by total_exec_time desc limit 6`;
  log(`pg_stat_statements, ${label}:`);
  for (const r of rows) {
    // the head and the tail: statements that share their columns differ in their WHERE
    const query = r.q.length > 170 ? `${r.q.slice(0, 110)} … ${r.q.slice(-60)}` : r.q;
    log(`  ${String(r.ms).padStart(7)} ms ${String(r.calls).padStart(7)} calls ${String(r.rows).padStart(9)} rows ${String(r.blocks).padStart(10)} blocks  ${query}`);
  }
  await db.end();
}

/** Runs `n` jobs, `width` at a time. */
async function pool(n: number, width: number, job: (k: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

/** Calls `job` with `width` in flight until `ms` have passed; returns how many completed. */
async function forDuration(ms: number, width: number, job: (k: number) => Promise<void>) {
  const end = Date.now() + ms;
  let done = 0;
  let k = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (Date.now() < end) {
        await job(k++);
        done++;
      }
    }),
  );
  return done;
}

// Due over the hour after the next one: nothing fires while the benchmark loads.
const t0 = Date.now() + 3_600_000;
const dueOf = (i: number) => t0 + Math.floor((i / N) * 3_600_000);
// every system's keys: u0/ … u9/, a tenth of the tasks under each prefix
const keyOf = (i: number) => `u${i % 10}/task-${i}`;

// ------------------------------------------------------------------ systems

interface Subject {
  name: string;
  call: string;
  chunk: number;
  /** false: the single creates are measured on the system's other variant (they carry no key) */
  single?: boolean;
  start(): Promise<void>;
  bulk(from: number, to: number): Promise<void>;
  one(i: number): Promise<void>;
  /** the server process, when the system has one (its CPU is counted) */
  pid?(): number | undefined;
  /** cancels a tenth by key prefix: how many, and how long the DELETE took (ms) */
  cancel?(): Promise<{ cancelled: number; ms: number }>;
  /** live tasks left under the cancelled prefix */
  leftAfterCancel?(): Promise<number>;
  /** how many of the loaded tasks the system holds (each key once): checked against N */
  stored(): Promise<number>;
  stop(): Promise<void>;
}

function sundial(root: string, label: string): Subject {
  let child: ChildProcess | undefined;
  let base = '';
  let pool: Pool | undefined;
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    for (;;) {
      const r = await pool!.request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      if (r.statusCode === 429) {
        await r.body.dump();
        await sleep(1000 * Number(r.headers['retry-after'] ?? 1));
        continue;
      }
      if (r.statusCode >= 300) throw new Error(`${path}: ${r.statusCode} ${(await r.body.text()).slice(0, 300)}`);
      await r.body.dump();
      return;
    }
  };
  return {
    name: label,
    call: 'POST /api/tasks/batch (Prefer: return=minimal, keys)',
    chunk: 1000,
    async start() {
      const port = await freePort();
      const execArgv = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${resolve(CPU_PROF)}`] : [];
      child = spawn(process.execPath, [...execArgv, 'bin/sundial.js', 'serve'], {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, DATABASE_URL: benchUrl, PORT: String(port), HOST: '127.0.0.1', SUNDIAL_NODE_ID: 'bulk-1', LOG_LEVEL: 'error' },
      });
      base = `http://127.0.0.1:${port}`;
      pool = new Pool(base, { connections: 32 });
      await waitFor('Sundial /readyz', async () => (await fetch(`${base}/readyz`)).ok, 60_000);
    },
    async bulk(from, to) {
      const tasks = [];
      for (let i = from; i < to; i++) tasks.push({ key: keyOf(i), name: `reminder ${i}`, schedule: { type: 'once', at: new Date(dueOf(i)).toISOString() }, payload: { i } });
      await post('/api/tasks/batch', { tasks }, { prefer: 'return=minimal' });
    },
    async one(i) {
      await post('/api/tasks', { name: `single ${i}`, schedule: { type: 'once', at: new Date(dueOf(i % N)).toISOString() }, payload: { i } });
    },
    pid: () => child?.pid,
    async stored() {
      const r = await fetch(`${base}/api/tasks?count=true&limit=1`);
      return ((await r.json()) as { total: number }).total;
    },
    async cancel() {
      const t0 = performance.now();
      const r = await fetch(`${base}/api/tasks?keyPrefix=u3/`, { method: 'DELETE' });
      const { cancelled } = (await r.json()) as { cancelled: number };
      return { cancelled, ms: performance.now() - t0 };
    },
    async leftAfterCancel() {
      const left = (await (await fetch(`${base}/api/tasks?keyPrefix=u3/&count=true&limit=1`)).json()) as { total: number };
      return left.total;
    },
    async stop() {
      await pool?.close();
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function graphile(keyed: boolean): Subject {
  let utils: import('graphile-worker').WorkerUtils | undefined;
  return {
    name: keyed ? 'graphile-worker' : 'graphile-worker, no keys',
    call: keyed ? 'addJobs (jobKey)' : 'addJobs',
    chunk: 5000,
    single: keyed,
    async start() {
      const { makeWorkerUtils } = await import('graphile-worker');
      utils = await makeWorkerUtils({ connectionString: benchUrl });
      await utils.migrate();
    },
    async bulk(from, to) {
      const jobs = [];
      for (let i = from; i < to; i++) jobs.push({ identifier: 'bench', payload: { i }, runAt: new Date(dueOf(i)), ...(keyed ? { jobKey: keyOf(i) } : {}) });
      await utils!.addJobs(jobs);
    },
    async one(i) {
      await utils!.addJob('bench', { i }, { runAt: new Date(dueOf(i % N)) });
    },
    stored: () => benchCount('select count(*) from graphile_worker._private_jobs'),
    async stop() {
      await utils?.release();
    },
  };
}

function pgboss(keyed: boolean): Subject {
  let boss: import('pg-boss').default | undefined;
  // keyed: a queue of policy short, whose unique index keeps one queued job a singletonKey
  const queue = keyed ? 'bench-keys' : 'bench';
  return {
    name: keyed ? 'pg-boss' : 'pg-boss, no keys',
    call: keyed ? 'insert (singletonKey, policy short)' : 'insert',
    chunk: 5000,
    single: keyed,
    async start() {
      const { default: PgBoss } = await import('pg-boss');
      boss = new PgBoss({ connectionString: benchUrl, supervise: false, schedule: false, max: 20 });
      boss.on('error', () => {});
      await boss.start();
      await boss.createQueue('bench').catch(() => {});
      if (keyed) await boss.createQueue(queue, { name: queue, policy: 'short' });
    },
    async bulk(from, to) {
      const jobs = [];
      for (let i = from; i < to; i++) jobs.push({ name: queue, data: { i }, startAfter: new Date(dueOf(i)), ...(keyed ? { singletonKey: keyOf(i) } : {}) });
      await boss!.insert(jobs);
    },
    async one(i) {
      await boss!.send('bench', { i }, { startAfter: new Date(dueOf(i % N)) });
    },
    stored: () => benchCount(`select count(*) from pgboss.job where name = '${queue}'`),
    async stop() {
      await boss?.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {});
    },
  };
}

function bullmq(keyed: boolean): Subject {
  let queue: import('bullmq').Queue | undefined;
  return {
    name: keyed ? 'BullMQ' : 'BullMQ, no keys',
    call: keyed ? 'addBulk (jobId)' : 'addBulk',
    chunk: 1000,
    single: keyed,
    async start() {
      const { Queue } = await import('bullmq');
      queue = new Queue('bench', { connection: { host: '127.0.0.1', port: redisPort!, maxRetriesPerRequest: null } });
      await queue.waitUntilReady();
    },
    async bulk(from, to) {
      const now = Date.now();
      const jobs = [];
      for (let i = from; i < to; i++) jobs.push({ name: 'bench', data: { i }, opts: { timestamp: now, delay: dueOf(i) - now, removeOnComplete: { count: 1000 }, ...(keyed ? { jobId: keyOf(i) } : {}) } });
      await queue!.addBulk(jobs);
    },
    async one(i) {
      const now = Date.now();
      await queue!.add('bench', { i }, { timestamp: now, delay: dueOf(i % N) - now, removeOnComplete: { count: 1000 } });
    },
    stored: async () => (await queue!.getJobCounts('delayed')).delayed ?? 0,
    async stop() {
      await queue?.close();
    },
  };
}

const makers: Record<string, () => Subject> = {
  graphile: () => graphile(true),
  pgboss: () => pgboss(true),
  bullmq: () => bullmq(true),
  'graphile-nokeys': () => graphile(false),
  'pgboss-nokeys': () => pgboss(false),
  'bullmq-nokeys': () => bullmq(false),
};
SUNDIAL_ROOTS.forEach((root, k) => {
  const label = SUNDIAL_ROOTS.length > 1 ? `Sundial (${root.split('/').pop()})` : 'Sundial';
  makers[`sundial@${k}`] = () => sundial(root, label);
});

// ------------------------------------------------------------------ run

interface Row {
  system: string;
  call: string;
  loadS: number;
  loadPerS: number;
  singlePerS: number;
  cancel?: { n: number; s: number; left: number };
  /** CPU ms per 1,000 tasks: the system's server (Sundial's node), PostgreSQL, this client */
  loadCpu: Cpu;
  singleCpu: Cpu;
}
interface Cpu {
  server: number | null;
  pg: number;
  client: number;
}

/** Measures the CPU that `n` tasks cost while `run` runs, in ms per 1,000 tasks. */
async function cpuOf(s: Subject, run: () => Promise<number>): Promise<{ n: number; cpu: Cpu }> {
  const pid = s.pid?.();
  const pm = postmasterPid();
  const server0 = pid ? procUsage(pid)?.cpu ?? 0 : 0;
  const pg0 = pgCpu(pm);
  const me0 = process.cpuUsage();
  const n = await run();
  const me = process.cpuUsage(me0);
  const per1k = (sec: number) => (sec * 1000 * 1000) / n;
  return {
    n,
    cpu: {
      server: pid ? per1k((procUsage(pid)?.cpu ?? 0) - server0) : null,
      pg: per1k(pgCpu(pm) - pg0),
      client: per1k((me.user + me.system) / 1e6),
    },
  };
}
/** The share of the machine's CPU time spent idle since `from` (/proc/stat), or the counters now. */
function machineIdle(): { idle: number; total: number };
function machineIdle(from: { idle: number; total: number }): number;
function machineIdle(from?: { idle: number; total: number }) {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const now = { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
  return from ? (now.idle - from.idle) / Math.max(1, now.total - from.total) : now;
}

/** Samples the benchmark database's backends every 10 ms; the answer tallies their states. */
function sampleWaits() {
  const tally = new Map<string, number>();
  let samples = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      const rows = await sqlAdmin<{ w: string }[]>`
        select coalesce(wait_event_type || ':' || wait_event, case when state = 'active' then 'running' else state end) as w
        from pg_stat_activity where datname = 'bench' and backend_type = 'client backend' and pid <> pg_backend_pid()`;
      for (const r of rows) tally.set(r.w, (tally.get(r.w) ?? 0) + 1);
      samples += rows.length;
      await sleep(10);
    }
  })();
  return async () => {
    on = false;
    await loop;
    return [...tally].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([w, n]) => `${w} ${((n / Math.max(1, samples)) * 100).toFixed(0)} %`).join(', ');
  };
}
const fmtCpu = (c: Cpu) => `${c.server === null ? '' : `server ${c.server.toFixed(0)} ms, `}PostgreSQL ${c.pg.toFixed(0)} ms, client ${c.client.toFixed(0)} ms`;
const rows: Row[] = [];
log(`bulk benchmark: N=${N.toLocaleString('en-US')}, ${IN_FLIGHT} bulk calls in flight, single creates ${SINGLE_IN_FLIGHT} in flight for ${SINGLE_SEC} s; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}${PG_SET.length ? `; PostgreSQL ${PG_SET.map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}`);
for (const id of Array.from({ length: ROUNDS }, () => SYSTEMS).flat()) {
  if (id.startsWith('bullmq') && !redisPort) continue;
  const s = makers[id]!();
  await reset();
  await s.start();
  try {
    const chunks = Math.ceil(N / s.chunk);
    let done = 0;
    const t = performance.now();
    const idle0 = machineIdle();
    const waits = WAITS ? sampleWaits() : undefined;
    const { cpu: loadCpu } = await cpuOf(s, async () => {
      await pool(chunks, IN_FLIGHT, async (c) => {
        await s.bulk(c * s.chunk, Math.min(N, (c + 1) * s.chunk));
        done += s.chunk;
        if (c % Math.max(1, Math.floor(chunks / 10)) === 0) log(`  ${s.name}: ${Math.min(done, N).toLocaleString('en-US')} loaded`);
      });
      return N;
    });
    const loadS = (performance.now() - t) / 1000;
    const idle = machineIdle(idle0);
    log(`${s.name} ${s.call}: ${N.toLocaleString('en-US')} in ${loadS.toFixed(1)} s = ${Math.round(N / loadS).toLocaleString('en-US')}/s; CPU per 1,000: ${fmtCpu(loadCpu)}; the cores were ${(idle * 100).toFixed(0)} % idle`);
    if (waits) log(`  PostgreSQL backends during the load (share of samples): ${await waits()}`);
    // every task stored once: a key that dropped a task, or a load that lost some, fails the run
    const stored = await s.stored();
    if (stored !== N) throw new Error(`${s.name}: ${stored} of ${N} tasks stored after the load`);
    await topStatements(`${s.name} load`);
    let cancel: Row['cancel'];
    if (s.cancel) {
      const w0 = await walState();
      const { cancelled, ms } = await s.cancel();
      const w1 = await walState();
      // the check is timed apart: listing a prefix the cancel emptied once read every live task
      const k0 = performance.now();
      const left = await s.leftAfterCancel!();
      cancel = { n: cancelled, s: ms / 1000, left };
      log(`${s.name} after the cancel, the prefix listed with its count in ${(performance.now() - k0).toFixed(0)} ms`);
      // full-page images after a checkpoint made the same cancel write several times the WAL
      log(`${s.name} cancel by prefix: ${cancelled.toLocaleString('en-US')} in ${cancel.s.toFixed(2)} s, ${left} left; WAL ${((w1.bytes - w0.bytes) / 1e6).toFixed(0)} MB, ${w1.fpi - w0.fpi} full-page images, checkpoints ${w1.checkpoints - w0.checkpoints} (${w0.checkpoints} before)`);
    }
    let singlePerS = NaN;
    let singleCpu: Cpu = { server: null, pg: NaN, client: NaN };
    if (s.single !== false) {
      const single = await cpuOf(s, () => forDuration(SINGLE_SEC * 1000, SINGLE_IN_FLIGHT, (k) => s.one(k)));
      singlePerS = single.n / SINGLE_SEC;
      singleCpu = single.cpu;
      log(`${s.name} single creates, ${SINGLE_IN_FLIGHT} in flight: ${Math.round(singlePerS).toLocaleString('en-US')}/s; CPU per 1,000: ${fmtCpu(singleCpu)}`);
    }
    rows.push({ system: s.name, call: s.call, loadS, loadPerS: N / loadS, singlePerS, cancel, loadCpu, singleCpu });
  } finally {
    await s.stop();
  }
}

// one line per system: medians over the rounds (the upper one of an even count)
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const medianCpu = (cs: Cpu[]): Cpu => ({
  server: cs[0]!.server === null ? null : median(cs.map((c) => c.server!)),
  pg: median(cs.map((c) => c.pg)),
  client: median(cs.map((c) => c.client)),
});
const bySystem = new Map<string, Row[]>();
for (const r of rows) bySystem.set(r.system, [...(bySystem.get(r.system) ?? []), r]);
const summary = [...bySystem].map(([system, rs]) => ({
  system,
  call: rs[0]!.call,
  loadS: N / median(rs.map((r) => r.loadPerS)),
  loadPerS: median(rs.map((r) => r.loadPerS)),
  singlePerS: median(rs.map((r) => r.singlePerS)),
  cancel: rs[0]!.cancel && { n: rs[0]!.cancel.n, s: median(rs.map((r) => r.cancel!.s)), left: Math.max(...rs.map((r) => r.cancel!.left)) },
  rounds: rs.length,
  loadCpu: medianCpu(rs.map((r) => r.loadCpu)),
  singleCpu: medianCpu(rs.map((r) => r.singleCpu)),
}));
// ratios against this checkout's Sundial (the last of --sundial-roots)
const sun = summary.filter((r) => r.system.startsWith('Sundial')).pop();
const fmt = (v: number) => (Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en-US'));
const ratio = (a: number | undefined, b: number) => (a === undefined || Number.isNaN(a) || Number.isNaN(b) ? '–' : (a / b).toFixed(2));
const lines = [
  `N = ${fmt(N)} one-time tasks, ${IN_FLIGHT} bulk calls in flight; single creates ${SINGLE_IN_FLIGHT} in flight for ${SINGLE_SEC} s; ${ROUNDS > 1 ? `medians of ${ROUNDS} alternating rounds; ` : ''}ratios: ${sun?.system ?? '–'} ÷ this`,
  '',
  '| system | bulk call | load time | tasks/s | ratio | single creates/s | ratio |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...summary.map((r) =>
    `| ${r.system} | ${r.call} | ${r.loadS.toFixed(1)} s | ${fmt(r.loadPerS)} | ${ratio(sun?.loadPerS, r.loadPerS)} | ${fmt(r.singlePerS)} | ${ratio(sun?.singlePerS, r.singlePerS)} |`,
  ),
  '',
  ...summary.filter((r) => r.cancel).map((r) => `${r.system}: cancel by key prefix, ${fmt(r.cancel!.n)} tasks in ${r.cancel!.s.toFixed(2)} s; ${r.cancel!.left} left under the prefix.`),
  '',
  'CPU per 1,000 tasks (ms; server = the Sundial node; PostgreSQL = every backend and background process; client = this process):',
  '',
  '| system | load: server | load: PostgreSQL | load: client | single: server | single: PostgreSQL | single: client |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...summary.map((r) => {
    const c = (v: number | null) => (v === null ? '–' : fmt(v));
    return `| ${r.system} | ${c(r.loadCpu.server)} | ${c(r.loadCpu.pg)} | ${c(r.loadCpu.client)} | ${c(r.singleCpu.server)} | ${c(r.singleCpu.pg)} | ${c(r.singleCpu.client)} |`;
  }),
];
console.log('\n' + lines.join('\n') + '\n');
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', 'bulk.json'), JSON.stringify({ date: new Date().toISOString(), n: N, inFlight: IN_FLIGHT, singleSec: SINGLE_SEC, load1: loadavg()[0], rows }, null, 2));

await sqlAdmin.end({ timeout: 1 });
redis?.kill('SIGTERM');
await pg.stop();
rmSync(work, { recursive: true, force: true });
