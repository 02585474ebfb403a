// Chaos run: real Sundial node processes on one embedded PostgreSQL, thousands of
// tasks, and faults injected with real signals while they fire. At the end the run log
// (the runs table) is checked against the exact set of occurrences that fell due:
// every one executed exactly once, none missing, none twice; lag overall and per fault.
// A second part measures steady load while the cluster grows from 1 node to 3 and
// shrinks back, and how claims spread over the nodes.
//
//   npm run chaos                 full run (~10 min), writes docs/reliability.md
//   npm run chaos -- --quick      ~2–3 min, same checks, smaller and shorter
//   options: --seed <n>  --out <file>  --no-doc  --keep (leave the run directory)
//
// Exit code 1 if any due occurrence was missing or executed twice, or a node crashed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { pct, pool, sleep } from './lib.js';
import { NodeProc } from './node-proc.js';

type Embedded = typeof import('../src/server/store/embedded-postgres.js');
type PgHandle = Awaited<ReturnType<Embedded['startEmbeddedPostgres']>>;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EMBEDDED = join(ROOT, 'dist/server/store/embedded-postgres.js');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'docs/reliability.md') },
    'no-doc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // single-fault drills under steady load (bench/chaos-drill.ts)
    drill: { type: 'string' },
    rate: { type: 'string' },
    members: { type: 'string' },
    window: { type: 'string' },
    label: { type: 'string' },
    // re-renders a drill section from the results file a drill run left
    render: { type: 'string' },
  },
});
const QUICK = args.quick!;
const SEED = Number(args.seed ?? Date.now() % 100_000);

/** Sizes and timings of the two parts. */
const P = QUICK
  ? { onceTasks: 1500, crons: 40, chaosCycles: 1, settleMs: 10_000, scalePhaseMs: 10_000, scaleCrons: 100, scaleOncePerSec: 50 }
  : { onceTasks: 6000, crons: 150, chaosCycles: 3, settleMs: 15_000, scalePhaseMs: 40_000, scaleCrons: 150, scaleOncePerSec: 50 };
const LEASE_MS = 5000;
const LOOKAHEAD_MS = 2000;

// ---------------------------------------------------------------------------- helpers

let rngState = SEED || 1;
function rand(): number {
  // mulberry32: a seeded run picks the same victims again
  rngState = (rngState + 0x6d2b79f5) | 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
const until = (t: number) => sleep(t - Date.now());
const t0 = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

function lagSummary(lags: number[]) {
  const s = [...lags].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s.length ? s[s.length - 1]! : NaN };
}
const ms = (v: number) => (Number.isFinite(v) ? (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`) : '–');


// ---------------------------------------------------------------------------- nodes

async function api(nodes: NodeProc[], path: string, body: unknown): Promise<{ status: number; body: any }> {
  // any live node serves the API; try the next one if this one is away
  let lastErr: unknown;
  for (let attempt = 0; attempt < 6; attempt++) {
    const live = nodes.filter((n) => n.alive);
    // not the seeded generator: the victims of a seeded run must not depend on retries here
    const n = live[Math.floor(Math.random() * live.length)];
    if (!n) break;
    try {
      const res = await fetch(n.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, body: await res.json() };
    } catch (err) {
      lastErr = err;
      await sleep(200);
    }
  }
  throw new Error(`API unreachable: ${String(lastErr)}`);
}

// ---------------------------------------------------------------------------- workload

interface Workload {
  /** taskId → the scheduled instants (ms) that fall due in the run */
  expected: Map<string, number[]>;
  from: number;
  to: number;
}

/**
 * `onceCount` one-time tasks at random instants in [from, to], and `cronCount` 6-field
 * crons firing every 1–5 s over the same window (bounded by startAt/endAt, so the set
 * of occurrences is exact).
 */
async function createWorkload(nodes: NodeProc[], onceCount: number, cronCount: number, from: number, to: number, oncePerSec?: number): Promise<Workload> {
  const expected = new Map<string, number[]>();
  const cronSpecs = Array.from({ length: cronCount }, (_, i) => 1 + (i % 5));
  const startAt = new Date(Math.ceil(from / 1000) * 1000);
  const endAt = new Date(Math.floor(to / 1000) * 1000);
  await pool(cronSpecs, 16, async (period, i) => {
    const res = await api(nodes, '/api/tasks', {
      name: `cron-${i}-every-${period}s`,
      schedule: { type: 'cron', expression: `*/${period} * * * * *`, startAt: startAt.toISOString(), endAt: new Date(endAt.getTime() + 500).toISOString() },
    });
    if (res.status !== 201) throw new Error(`create cron: ${res.status} ${JSON.stringify(res.body)}`);
    const times: number[] = [];
    for (let t = startAt.getTime(); t <= endAt.getTime(); t += 1000) if ((t / 1000) % period === 0) times.push(t);
    expected.set(res.body.id, times);
  });
  const onceAt = oncePerSec
    ? Array.from({ length: Math.floor(((to - from) / 1000) * oncePerSec) }, (_, i) => from + (i * 1000) / oncePerSec + rand() * 5)
    : Array.from({ length: onceCount }, () => from + rand() * (to - from));
  await pool(onceAt, 16, async (at, i) => {
    const res = await api(nodes, '/api/tasks', { name: `once-${i}`, schedule: { type: 'once', at: new Date(Math.round(at)).toISOString() } });
    if (res.status !== 201) throw new Error(`create once: ${res.status} ${JSON.stringify(res.body)}`);
    expected.set(res.body.id, [new Date(res.body.schedule.at).getTime()]);
  });
  return { expected, from, to };
}

/**
 * Registration rate (tasks/s) measured on this machine now, with tasks far in the future
 * that never fire: the workload window starts after every task is registered.
 */
async function registrationRate(nodes: NodeProc[]): Promise<number> {
  const n = 200;
  const start = Date.now();
  await pool(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
    const res = await api(nodes, '/api/tasks', { name: `calibration-${i}`, schedule: { type: 'once', at: '2199-01-01T00:00:00Z' } });
    if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`);
  });
  return n / ((Date.now() - start) / 1000);
}

interface Run {
  taskId: string;
  scheduledFor: Date;
  trigger: string;
  status: string;
  reason: string | null;
  late: boolean;
  attempt: number;
  nodeId: string | null;
  startedAt: Date | null;
  lagMs: number | null;
}

async function readRuns(sql: postgres.Sql): Promise<Run[]> {
  const rows = await sql<Run[]>`
    select task_id, scheduled_for, trigger, status, reason, late, attempt, node_id, started_at,
           (extract(epoch from started_at - scheduled_for) * 1000)::float8 as lag_ms
    from runs order by scheduled_for`;
  return rows.map((r) => ({ ...r, lagMs: r.lagMs === null ? null : Number(r.lagMs) }));
}

/** The exactly-once audit of a run log against the occurrences that fell due. */
function audit(w: Workload, runs: Run[]) {
  const rows = new Map<string, Run[]>();
  for (const r of runs) {
    if (r.trigger !== 'schedule') continue;
    const k = `${r.taskId}@${r.scheduledFor.getTime()}`;
    rows.set(k, [...(rows.get(k) ?? []), r]);
  }
  let due = 0, executed = 0, skipped = 0, missing = 0, duplicated = 0, unexpected = 0;
  const missingList: string[] = [];
  const skippedReasons = new Map<string, number>();
  const wanted = new Set<string>();
  for (const [taskId, times] of w.expected) {
    for (const t of times) {
      const k = `${taskId}@${t}`;
      wanted.add(k);
      due++;
      const rs = rows.get(k) ?? [];
      const ok = rs.filter((r) => r.status === 'succeeded').length;
      if (ok >= 1) executed++;
      // a second row for one occurrence (the unique key should make it impossible) or a second success
      if (rs.length > 1) duplicated += rs.length - 1;
      if (ok === 0) {
        const s = rs.find((r) => r.status === 'skipped');
        if (s) {
          skipped++;
          skippedReasons.set(s.reason ?? '', (skippedReasons.get(s.reason ?? '') ?? 0) + 1);
        } else {
          missing++;
          if (missingList.length < 20) missingList.push(`${k} (${rs.map((r) => r.status).join(',') || 'no row'})`);
        }
      }
    }
  }
  for (const k of rows.keys()) if (!wanted.has(k)) unexpected++;
  const ran = runs.filter((r) => r.status === 'succeeded' && r.lagMs !== null);
  return {
    due, executed, skipped, missing, duplicated, unexpected, missingList, skippedReasons,
    lag: lagSummary(ran.map((r) => r.lagMs!)),
    late: ran.filter((r) => r.late).length,
    rescued: ran.filter((r) => r.attempt > 1).length,
  };
}

// ---------------------------------------------------------------------------- part 1: chaos

interface Fault {
  kind: 'SIGKILL + restart' | 'SIGSTOP > lease, SIGCONT' | 'SIGTERM + restart' | 'PostgreSQL restart';
  victim: string;
  start: number;
  /** when the fault was lifted (restarted, continued, database back) */
  end: number;
  note: string;
}

async function chaos(dir: string, pgUrl: string, restartPg: () => Promise<void>) {
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe('create database chaos');
  await admin.end();
  const url = pgUrl.replace(/\/postgres$/, '/chaos');
  const nodes = ['node-a', 'node-b', 'node-c'].map((id) => new NodeProc(id, url, dir));
  await Promise.all(nodes.map((n) => n.start()));
  log(`chaos: 3 nodes up (${nodes.map((n) => n.url).join(', ')})`);

  // the fault schedule decides the window the workload must cover
  const cycleMs = 4 * (P.settleMs + 8000);
  // registering runs at 100–450 tasks/s on this busy machine: start the window after it
  const rate = await registrationRate(nodes);
  const lead = 8000 + ((P.onceTasks + P.crons) / rate) * 1500;
  const from = Date.now() + lead;
  const to = from + 8000 + P.chaosCycles * cycleMs;
  const creating = Date.now();
  const w = await createWorkload(nodes, P.onceTasks, P.crons, from, to);
  const occurrences = [...w.expected.values()].reduce((a, t) => a + t.length, 0);
  log(`chaos: ${w.expected.size} tasks created in ${((Date.now() - creating) / 1000).toFixed(1)} s (calibrated ${Math.round(rate)}/s) (${P.onceTasks} one-time, ${P.crons} crons every 1–5 s); ${occurrences} occurrences due over ${Math.round((to - from) / 1000)} s`);

  const scraper = setInterval(() => void Promise.all(nodes.map((n) => n.scrape())), 1000);
  // an orchestrator's restart policy: a node that died on its own is started again
  const supervisor = setInterval(() => {
    for (const n of nodes) {
      if (!n.alive && !n.down) {
        log(`${n.id} exited on its own (${n.crashes.at(-1)?.code ?? '?'}): restarting it`);
        void n.start().catch((err) => log(`restart of ${n.id} failed: ${err}`));
      }
    }
  }, 1000);
  const faults: Fault[] = [];
  await until(from + 8000);
  for (let cycle = 0; cycle < P.chaosCycles; cycle++) {
    // SIGKILL a random node; restart it (same node id) 2–8 s later
    {
      const v = pick(nodes);
      await v.scrape();
      const start = Date.now();
      v.down = true;
      v.signal('SIGKILL');
      await v.exited;
      const down = 2000 + Math.floor(rand() * 6000);
      log(`fault: SIGKILL ${v.id}; restart in ${down} ms`);
      await sleep(down);
      v.down = false;
      await v.start();
      faults.push({ kind: 'SIGKILL + restart', victim: v.id, start, end: Date.now(), note: `down ${((Date.now() - start) / 1000).toFixed(1)} s` });
      await sleep(P.settleMs);
    }
    // SIGSTOP one for longer than its lease, then SIGCONT
    {
      const v = pick(nodes);
      await v.scrape();
      const start = Date.now();
      v.signal('SIGSTOP');
      const frozen = LEASE_MS + 2000 + Math.floor(rand() * 2000);
      log(`fault: SIGSTOP ${v.id} for ${frozen} ms`);
      await sleep(frozen);
      v.signal('SIGCONT');
      faults.push({ kind: 'SIGSTOP > lease, SIGCONT', victim: v.id, start, end: Date.now(), note: `frozen ${(frozen / 1000).toFixed(1)} s` });
      await sleep(P.settleMs);
    }
    // SIGTERM one (graceful), restart it 2 s later
    {
      const v = pick(nodes);
      await v.scrape();
      const start = Date.now();
      const { code, drainMs } = await v.terminateAndRestart();
      log(`fault: SIGTERM ${v.id}: exit ${code} after ${drainMs} ms, restarted 2 s later`);
      faults.push({ kind: 'SIGTERM + restart', victim: v.id, start, end: Date.now(), note: `exit ${code} in ${drainMs} ms` });
      await sleep(P.settleMs);
    }
    // restart PostgreSQL (once per run, in the first cycle)
    if (cycle === 0) {
      const start = Date.now();
      log('fault: PostgreSQL restart');
      await restartPg();
      const back = Date.now();
      // time until every node answers ready again
      await Promise.all(nodes.map(async (n) => {
        while (!(await fetch(`${n.url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false))) await sleep(100);
      }));
      faults.push({ kind: 'PostgreSQL restart', victim: 'postgres', start, end: back, note: `down ${((back - start) / 1000).toFixed(1)} s, all nodes ready ${Date.now() - back} ms after` });
      log(`fault: PostgreSQL back after ${back - start} ms`);
      await sleep(P.settleMs);
    }
  }
  // let every occurrence fall due and be recorded
  await until(to + 8000);
  clearInterval(scraper);
  clearInterval(supervisor);
  await Promise.all(nodes.map((n) => n.scrape()));
  const crashes = nodes.flatMap((n) => n.crashes.map((c) => ({ node: n.id, ...c })));
  const fenced = nodes.reduce((a, n) => a + n.fenced.reduce((x, y) => x + y, 0), 0);

  const sql = postgres(url, { max: 1, onnotice: () => {}, transform: { column: { from: postgres.toCamel } } });
  const runs = await readRuns(sql);
  await sql.end();
  const codes = await Promise.all(nodes.map((n) => n.stop()));
  nodes.forEach((n) => n.close());
  const result = audit(w, runs);

  const inWindow = faults.map((f) => {
    // occurrences a fault could touch: held when it hit (lookahead) until well after it was lifted
    const lo = f.start - LOOKAHEAD_MS;
    const hi = Math.max(f.end, f.start + LEASE_MS) + 5000;
    const rs = runs.filter((r) => r.scheduledFor.getTime() >= lo && r.scheduledFor.getTime() <= hi && r.trigger === 'schedule');
    const ran = rs.filter((r) => r.status === 'succeeded');
    const worst = ran.reduce<Run | undefined>((w, r) => (!w || r.lagMs! > w.lagMs! ? r : w), undefined);
    return {
      ...f,
      worst: worst ? `${worst.nodeId} attempt ${worst.attempt}` : '–',
      window: [lo, hi] as [number, number],
      occurrences: rs.length,
      rescued: ran.filter((r) => r.attempt > 1).length,
      skipped: rs.filter((r) => r.status === 'skipped').length,
      lag: lagSummary(ran.map((r) => r.lagMs!)),
    };
  });
  const byNode = new Map<string, number>();
  for (const r of runs) if (r.status === 'succeeded') byNode.set(r.nodeId ?? '-', (byNode.get(r.nodeId ?? '-') ?? 0) + 1);
  return { w, from, to, occurrences, result, faults: inWindow, fenced, byNode, stopCodes: codes, tasks: w.expected.size, crashes };
}

// ---------------------------------------------------------------------------- part 2: scaling

async function scaling(dir: string, pgUrl: string) {
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe('create database scaling');
  await admin.end();
  const url = pgUrl.replace(/\/postgres$/, '/scaling');
  const [first, ...more] = ['scale-1', 'scale-2', 'scale-3'].map((id) => new NodeProc(id, url, dir));
  await first!.start();
  const phase = P.scalePhaseMs;
  const regRate = await registrationRate([first!]);
  const lead = 8000 + ((P.scaleCrons + ((3 * phase) / 1000) * P.scaleOncePerSec) / regRate) * 1500;
  const from = Date.now() + lead;
  const to = from + 3 * phase;
  const w = await createWorkload([first!], 0, 0, from, to, P.scaleOncePerSec);
  // every-second crons: a steady offered load
  const startAt = new Date(Math.ceil(from / 1000) * 1000);
  const endAt = new Date(Math.floor(to / 1000) * 1000);
  await pool(Array.from({ length: P.scaleCrons }, (_, i) => i), 16, async (i) => {
    const res = await api([first!], '/api/tasks', {
      name: `steady-${i}`,
      schedule: { type: 'cron', expression: '* * * * * *', startAt: startAt.toISOString(), endAt: new Date(endAt.getTime() + 500).toISOString() },
    });
    if (res.status !== 201) throw new Error(`create cron: ${res.status}`);
    const times: number[] = [];
    for (let t = startAt.getTime(); t <= endAt.getTime(); t += 1000) times.push(t);
    w.expected.set(res.body.id, times);
  });
  const rate = P.scaleCrons + P.scaleOncePerSec;
  log(`scaling: offered load ~${rate} occurrences/s for ${(3 * phase) / 1000} s: 1 node, then 3, then 1`);
  const events: { at: number; what: string }[] = [];
  await until(from + phase);
  const joinStart = Date.now();
  await Promise.all(more.map((n) => n.start()));
  events.push({ at: Date.now(), what: `2 nodes joined (ready ${Date.now() - joinStart} ms after start)` });
  log('scaling: 2 nodes joined');
  await until(from + 2 * phase);
  const leave = Date.now();
  const codes = await Promise.all(more.map((n) => n.stop()));
  events.push({ at: leave, what: `2 nodes left (SIGTERM, exit ${codes.join('/')} in ${Date.now() - leave} ms)` });
  log('scaling: 2 nodes left');
  await until(to + 5000);
  const sql = postgres(url, { max: 1, onnotice: () => {}, transform: { column: { from: postgres.toCamel } } });
  const runs = await readRuns(sql);
  await sql.end();
  await first!.stop();
  [first!, ...more].forEach((n) => n.close());
  const result = audit(w, runs);

  const bucketMs = 5000;
  const buckets: { from: number; nodes: number; fired: number; perSec: number; lag: ReturnType<typeof lagSummary>; share: Record<string, number> }[] = [];
  for (let b = from; b < to; b += bucketMs) {
    const rs = runs.filter((r) => r.status === 'succeeded' && r.scheduledFor.getTime() >= b && r.scheduledFor.getTime() < b + bucketMs);
    const share: Record<string, number> = {};
    for (const r of rs) share[r.nodeId!] = (share[r.nodeId!] ?? 0) + 1;
    const phaseIdx = Math.floor((b - from) / phase);
    buckets.push({ from: b, nodes: phaseIdx === 1 ? 3 : 1, fired: rs.length, perSec: rs.length / (bucketMs / 1000), lag: lagSummary(rs.map((r) => r.lagMs!)), share });
  }
  const phases = [0, 1, 2].map((i) => {
    const lo = from + i * phase;
    const rs = runs.filter((r) => r.status === 'succeeded' && r.scheduledFor.getTime() >= lo && r.scheduledFor.getTime() < lo + phase);
    const share: Record<string, number> = {};
    for (const r of rs) share[r.nodeId!] = (share[r.nodeId!] ?? 0) + 1;
    return { nodes: i === 1 ? 3 : 1, fired: rs.length, perSec: rs.length / (phase / 1000), lag: lagSummary(rs.map((r) => r.lagMs!)), share };
  });
  // around each change: the 5 s after it
  const around = events.map((e) => {
    const rs = runs.filter((r) => r.status === 'succeeded' && r.scheduledFor.getTime() >= e.at && r.scheduledFor.getTime() < e.at + 5000);
    const share: Record<string, number> = {};
    for (const r of rs) share[r.nodeId!] = (share[r.nodeId!] ?? 0) + 1;
    return { ...e, lag: lagSummary(rs.map((r) => r.lagMs!)), share };
  });
  return { from, to, rate, result, buckets, phases, around };
}

// ---------------------------------------------------------------------------- report

function fmtShare(share: Record<string, number> | Map<string, number>) {
  const e = share instanceof Map ? [...share] : Object.entries(share);
  const total = e.reduce((a, [, n]) => a + n, 0);
  return e.sort().map(([k, n]) => `${k} ${n} (${Math.round((100 * n) / total)} %)`).join(', ');
}

function report(c: Awaited<ReturnType<typeof chaos>>, s: Awaited<ReturnType<typeof scaling>>, meta: { pgVersion: string; wallS: number; load: number[] }) {
  const cmd = QUICK ? `npm run chaos -- --quick --seed ${SEED}` : `npm run chaos -- --seed ${SEED}`;
  const r = c.result;
  const lines: string[] = [];
  const t = (x: number) => `+${((x - c.from) / 1000).toFixed(0)} s`;
  lines.push(
    '# Reliability: faults, exactly-once and lag, measured',
    '',
    '<!-- Generated by bench/chaos.ts; edit the generator, not this file. -->',
    '',
    `Figures from one run of \`${cmd}\` (${QUICK ? 'quick mode' : 'full mode'}, ${Math.round(meta.wallS)} s wall time) on ${new Date().toISOString().slice(0, 10)}:`,
    `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${meta.pgVersion.split(' on ')[0]} (embedded), `,
    `all processes on this one machine: three Sundial nodes, PostgreSQL and the load generator share ${cpus().length} cores ` +
      `(load average ${meta.load.map((l) => l.toFixed(1)).join(' / ')} when the run started: other work shared the machine).`,
    `Node settings: the defaults of commit ${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()} (lease ${LEASE_MS / 1000} s, heartbeat 1 s, lookahead ${LOOKAHEAD_MS / 1000} s, claim-ahead ${Number(process.env.SUNDIAL_CLAIM_AHEAD_MS ?? 45_000) / 1000} s, poll 500 ms, misfire threshold 10 s).`,
    '',
    '## Verdict',
    '',
    `| due occurrences | executed once | skipped by misfire policy | missing | executed twice | unexpected rows |`,
    `|---:|---:|---:|---:|---:|---:|`,
    `| ${r.due} | ${r.executed} | ${r.skipped} | **${r.missing}** | **${r.duplicated}** | ${r.unexpected} |`,
    '',
    `Lag (start − scheduled) over all ${r.lag.n} executions: p50 ${ms(r.lag.p50)}, p99 ${ms(r.lag.p99)}, max ${ms(r.lag.max)}. ` +
      `${r.rescued} executions were taken over from a node that died, froze or drained (attempt > 1); ` +
      `${c.fenced} late results from frozen or superseded node lives were rejected by the fence (owner + attempt).`,
    '',
  );
  if (r.skipped) {
    lines.push(`Skipped occurrences (recorded in the run history with their reason, never silently dropped):`, '');
    for (const [reason, n] of r.skippedReasons) lines.push(`- ${n} × "${reason}"`);
    lines.push('');
  }
  if (r.missing) lines.push('Missing occurrences (first 20):', '', ...r.missingList.map((m) => `- ${m}`), '');
  lines.push(
    '## The chaos run',
    '',
    `Three nodes (\`node-a\`, \`node-b\`, \`node-c\`) on one embedded PostgreSQL; ${c.tasks} tasks registered through the REST API before the faults: ` +
      `${P.onceTasks} one-time tasks at random instants over ${Math.round((c.to - c.from) / 1000)} s and ${P.crons} crons with 6 fields firing every 1–5 s ` +
      `(bounded by startAt/endAt, so the set of ${c.occurrences} due occurrences is exact). Faults, in order (victims picked at random, seed ${SEED}):`,
    '',
    '- **SIGKILL + restart**: the victim is killed and started again 2–8 s later under the same node id.',
    `- **SIGSTOP > lease**: the victim is frozen for longer than its ${LEASE_MS / 1000} s lease, then continued: it wakes holding stale claims.`,
    '- **SIGTERM + restart**: graceful stop (hands its claims back), started again 2 s later.',
    '- **PostgreSQL restart**: the database server is stopped (fast shutdown) and started again on the same data directory and port; the nodes stay up.',
    '',
    `Per fault, the occurrences scheduled from ${LOOKAHEAD_MS / 1000} s before it (what the victim may have held) to 5 s after it was lifted (or after its lease ran out):`,
    '',
    '| # | fault | victim | at | detail | occurrences in window | taken over | skipped | lag p50 | lag p99 | lag max | max-lag run by |',
    '|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|',
    ...c.faults.map((f, i) => `| ${i + 1} | ${f.kind} | ${f.victim} | ${t(f.start)} | ${f.note} | ${f.occurrences} | ${f.rescued} | ${f.skipped} | ${ms(f.lag.p50)} | ${ms(f.lag.p99)} | ${ms(f.lag.max)} | ${f.worst} |`),
    '',
    '"at": seconds after the first due occurrence. "Taken over": executions with attempt > 1, i.e. claimed again from a node ' +
      'that died, froze past its lease or handed its claims back (a node restarted under the same id hands back what its ' +
      'previous life held).',
    '',
    `Executions by node (all lives): ${fmtShare(c.byNode)}. Exit codes of the final graceful stop: ${c.stopCodes.join(', ')}.`,
    '',
    c.crashes.length
      ? `**Nodes that exited on their own** (restarted by the script, as an orchestrator would): ${c.crashes.map((x) => `${x.node} at ${t(x.at)} (code ${x.code}${x.signal ? `, ${x.signal}` : ''})`).join('; ')}. Last log lines of the first:\n\n\`\`\`\n${c.crashes[0]!.tail}\n\`\`\`\n`
      : 'No node exited on its own during the run (every exit was one the schedule caused).',
    '',
    '## Scaling under steady load: 1 node → 3 → 1',
    '',
    `A fresh database, ${s.rate} occurrences a second offered (${P.scaleCrons} every-second crons + ${P.scaleOncePerSec} one-time tasks a second) for ${(3 * P.scalePhaseMs) / 1000} s. ` +
      `One node alone, then two more start (they join by registering and claiming, nothing else), then those two stop gracefully. ` +
      `Due ${s.result.due}, executed once ${s.result.executed}, missing ${s.result.missing}, executed twice ${s.result.duplicated}.`,
    '',
    '| phase | nodes | executed | per second | lag p50 | lag p99 | lag max | executions by node |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    ...s.phases.map((p, i) => `| ${['alone', 'joined', 'left'][i]} | ${p.nodes} | ${p.fired} | ${p.perSec.toFixed(0)} | ${ms(p.lag.p50)} | ${ms(p.lag.p99)} | ${ms(p.lag.max)} | ${fmtShare(p.share)} |`),
    '',
    'The 5 seconds after each change:',
    '',
    '| change | lag p50 | lag p99 | lag max | executions by node |',
    '|---|---:|---:|---:|---|',
    ...s.around.map((a) => `| ${a.what} | ${ms(a.lag.p50)} | ${ms(a.lag.p99)} | ${ms(a.lag.max)} | ${fmtShare(a.share)} |`),
    '',
    '<details><summary>5-second timeline</summary>',
    '',
    '| from | nodes | executed/s | lag p50 | lag p99 | lag max | by node |',
    '|---:|---:|---:|---:|---:|---:|---|',
    ...s.buckets.map((b) => `| +${((b.from - s.from) / 1000).toFixed(0)} s | ${b.nodes} | ${b.perSec.toFixed(0)} | ${ms(b.lag.p50)} | ${ms(b.lag.p99)} | ${ms(b.lag.max)} | ${fmtShare(b.share)} |`),
    '',
    '</details>',
    '',
    'How claims spread: there is no assignment. Each node claims, in one transaction, the due tasks it can lock ' +
      '(`FOR UPDATE SKIP LOCKED`) whenever its poll (500 ms) or a NOTIFY wakes it; whoever looks first takes the batch. ' +
      'So the share follows who wakes first, not a plan, and a new node takes work from its first poll; a leaving node hands its claims back.',
    '',
    ...STATIC_SECTIONS(cmd),
  );
  return lines.join('\n');
}

/**
 * The drills (bench/chaos-drill.ts) write one section per label between these markers
 * (`<!-- drill:<label>:start -->`); a chaos run keeps them.
 */
const DRILLS_START = '<!-- drills:start -->';
const DRILLS_END = '<!-- drills:end -->';

/** Carries the drill sections of the file being replaced into the new one. */
function keepDrills(doc: string, previous: string | undefined): string {
  const b = previous?.indexOf(DRILLS_END) ?? -1;
  const a = previous?.indexOf('<!-- drill:') ?? -1;
  if (!previous || a < 0 || b < a) return doc;
  const y = doc.indexOf(DRILLS_END);
  return doc.slice(0, y) + previous.slice(a, b) + doc.slice(y);
}

const STATIC_SECTIONS = (cmd: string) => [
  '## The cluster tests (in the suite)',
  '',
  '`npx vitest run test/cluster` (part of `npm test`): real node processes (`node bin/sundial.js serve`), real signals, real PostgreSQL. Each test reads the runs table directly.',
  '',
  '| file | scenario | what it asserts |',
  '|---|---|---|',
  '| `exactly-once.test.ts` | 2 nodes, 300 one-time tasks over 10 s + 3 crons every 1–3 s | every occurrence exactly one succeeded run, none missing, none extra; both nodes > 10 % of the work; lag < 1 s |',
  '| `kill.test.ts` | SIGKILL a node holding claims (lookahead 5 s; checked in the DB: pending, owned by it) | the survivor fires each held occurrence once, attempt 2, lag < 10 s; the cron carries on |',
  '| `freeze.test.ts` | SIGSTOP a node holding claims past its lease, then SIGCONT | the survivor fires them (attempt 2); every result the woken node tries to write is fenced (its `sundial_results_fenced_total` = held count); rows unchanged |',
  '| `drain.test.ts` | SIGTERM with claims held and an event stream open | exit 0 in < 10 s; claims handed back; fired by the survivor on time (lag < 1 s), not a lease later |',
  '| `restart.test.ts` | the only node SIGKILLed, restarted 16 s later with the same id | one-time tasks fire late (marked late); `fire_once`: held occurrences fired late, missed ones skipped with a reason and one fired late; `skip`: all missed skipped with a reason; every second of both crons has exactly one row |',
  '| `postgres-restart.test.ts` | its own embedded PostgreSQL stopped ~7 s and started again (same dir and port) | node stays up; `/readyz` 503 while down, 200 after; tasks due during the outage fire once; the task created before is not lost; every cron second has one row |',
  '| `scale.test.ts` | 2 nodes under load, a third joins, then one leaves (SIGTERM) | `/api/cluster` shows the newcomer alive and, after the leave, the leaver not alive; the newcomer fires within seconds of joining; the leaver fires nothing after it left; exactly once throughout; lag < 1 s (shares printed, not asserted: see above) |',
  '',
  '## Defects these tests found',
  '',
  'Fixed (the first two by minimal fixes made from the cluster work, each in its own commit; the third in the engine):',
  '',
  '- **A node died when PostgreSQL restarted.** postgres.js 3.4.9 (the latest release) defers small writes to a ' +
    '`setImmediate`; when the server goes away mid-transaction, the ROLLBACK is written on the dead connection and ' +
    '`nextWrite` throws `TypeError: Cannot read properties of null (reading \'write\')` from the timer, where nothing can ' +
    'catch it: the process exits (code 1). `postgres-restart.test.ts` saw it in 2 of 5 runs; in a cluster, one database ' +
    'restart can take every node down at once. Upstream: porsager/postgres #1066, #1154, #1208 (open). Fixed by ' +
    '`bin/postgres-js-fix.mjs`, a module loader hook registered by `bin/sundial.js` that guards `nextWrite` as the driver ' +
    'loads (nothing on disk changes, so it also holds in the Docker image); 0 crashes in 11 runs since.',
  '- **A node stayed blind for ~10 s after PostgreSQL came back.** postgres.js spaces reconnect attempts by ' +
    '(0.5–1) × min(3^n / 100, 20) s, n counting failed connects across the pool, so a few seconds of outage grew the wait ' +
    'to 10–20 s: measured, claims resumed 10.4 s after the server was back and occurrences due during a 7.5 s outage fired ' +
    '15 s late. `src/server/store/db.ts` now caps the back-off at 1 s; the same outage: claims resume within a second, lag 6 s.',
  '- **A node frozen inside its claim transaction held those tasks hostage.** The claim locks due task rows ' +
    '(`FOR UPDATE SKIP LOCKED` in `occurrencesClaimDue`) for the milliseconds of its transaction; a process frozen ' +
    '(SIGSTOP, GC or VM pause) inside that window kept them locked, other nodes skipped them and the lease could not help, ' +
    'since nothing was claimed yet: they fired only when the frozen node woke. `bench/chaos-freeze-probe.ts` (2 nodes, ' +
    '300 every-second crons, 20 freezes of 6.8 s) caught 1 freeze inside the transaction (`pg_stat_activity`: idle in ' +
    'transaction); its 1,800 occurrences were fired by the frozen node itself on attempt 1, up to 5.1 s late, and a longer ' +
    'freeze or a vanished machine would have held them for as long. Fixed in the engine (a6f9605): each node\'s sessions ' +
    'carry `idle_in_transaction_session_timeout` = the lease, so PostgreSQL rolls such a claim back and others take it. ' +
    'The chaos run above ran with that fix.',
  '',
  '- **After a failover the nodes could settle on a standby.** postgres.js 3.4.9 decides `target_session_attrs=read-write` from the `default_transaction_read_only` a server reports at startup, which is `off` on a hot standby (read-only by recovery, not by that setting), so it accepted a standby. The failover drill found it when Patroni promoted the third host: the nodes connected to the second, a standby, and every write failed there (`cannot execute UPDATE in a read-only transaction`) for the two minutes the drill waited; the drill\'s own write probe, on the same URL, never found a primary. It had passed before only because the promoted host came second in the URL. The same was reported against pg_auto_failover (hapostgres/pg_auto_failover #970). `src/server/store/db.ts` now asks a multi-host pool for `primary` (not in recovery), also when the URL says `read-write`; the shipped URLs say `primary`.',
  '',
  'Fixed since (d4c10a7), found by these tests:',
  '',
  '- **A `fire_once` cron could fire "once, late" twice after a long outage.** The catch-up claim re-read the clock on every ' +
    'pass of its loop, and `planClaim` measures the misfire cutoff from it, so the occurrence at the boundary could be coalesced ' +
    'again on the next pass. The claimer now reads the clock once per claim round; `restart.test.ts` asserts a single late run.',
  '- **Recovery after a database outage waited for the claimer\'s back-off**, which doubled up to 5 s: what fell due during ' +
    'the outage fired up to ~5.5 s after the database returned. The back-off is now capped at 1 s.',
  '',
  DRILLS_START,
  '## Drills: one fault under steady load',
  '',
  '`npm run chaos -- --drill <fault>[@<rate>],…` (`bench/chaos-drill.ts`). Each drill: a fresh database, three Sundial nodes, ' +
    'and a steady offered load registered through the API: 90 % every-second crons, 10 % one-time tasks due evenly, half of ' +
    'them log tasks and half webhooks to a loopback receiver in its own process (`bench/chaos-receiver.ts`), payloads of ' +
    '~200 bytes; meanwhile one-time tasks due 3–12 s later are created all along (up to 20 a second), each one the API ' +
    'acknowledged (201) must be on the database at the end. One fault a third into a 60 s window:',
  '',
  '- **failover**: three Debian PostgreSQL servers under Patroni with etcd, synchronous replication, the settings of ' +
    '`deploy/compose/patroni/patroni.yml` (ttl 20 s, loop_wait 2 s, retry_timeout 5 s); the nodes on ' +
    '`postgres://…@pg1,pg2,pg3/…?target_session_attrs=primary`. The primary\'s Patroni and PostgreSQL are SIGKILLed ' +
    '(a machine gone) and not restarted; Patroni promotes the synchronous standby when the leader key expires.',
  '- **sigkill**: a node SIGKILLed, started again 5 s later under the same id. **sigstop**: a node frozen for its lease ' +
    '+ 3 s, then continued. **sigterm**: a node stopped gracefully, started again 2 s later. **pg-restart**: PostgreSQL ' +
    '(embedded, one server) stopped and started on the same data directory. These four on embedded PostgreSQL.',
  '',
  'Lag is taken where the work happens: a webhook when the receiver got the request, a log task when its run started. ' +
    '"Gap": the failover and the restart from the fault until a fresh connection can write again; a node fault from the ' +
    'signal until the node is back. "Due in gap / fired in gap": occurrences scheduled inside the gap, and how many of them ' +
    'started before it ended. "Missing": no succeeded run; "twice": a second run row for one occurrence; "skipped": recorded ' +
    'as skipped by the misfire policy (not executed, so it fails the drill too). "Duplicate deliveries": the receiver got the ' +
    'same Idempotency-Key more than once (at-least-once delivery after a run was taken over; the ledger still holds one run). ' +
    '"Taken over": executions on attempt > 1. Targets: worst lag ≤ 10 s, 0 missing, 0 twice, 0 skipped, every ' +
    'acknowledged task found, peak node RSS < 300 MB; a drill that misses one exits 1.',
  '',
  DRILLS_END,
  '',
  '## Reproduce',
  '',
  '```sh',
  'npm ci',
  `${cmd}          # this run (the seed picks the same victims)`,
  'npm run chaos -- --quick   # ~2–3 min',
  'npm run chaos              # full: 3 fault cycles, several thousand tasks (~10 min)',
  'npx vitest run test/cluster   # the in-suite cluster tests (~2–3 min), failover.test.ts among them: a synchronous standby promoted by hand',
  'npx tsx bench/chaos-freeze-probe.ts   # the frozen-claim-transaction probe (after npm run build:server)',
  'npm run chaos -- --drill failover@1000,failover@10,sigkill@1000,sigstop@1000,sigterm@1000,pg-restart@1000 --label <label> --out docs/reliability.md   # the drills (failover: root; apt-get install patroni etcd-server postgresql)',
  'npm run chaos -- --drill failover --quick   # the short failover drill (20/s, 45 s window; not in CI while it fails, see "Drills")',
  '```',
  '',
  'The script builds the server first, starts its own embedded PostgreSQL in a temporary directory, and writes this file ' +
    '(`--out <file>` elsewhere, `--no-doc` not at all; `--keep` keeps the node logs). It exits 1 if any due occurrence was ' +
    'missing or executed twice, or if a node exited on its own.',
  '',
];

// ---------------------------------------------------------------------------- main

const load0 = loadavg();

async function main() {
  if (!existsSync(EMBEDDED)) throw new Error('dist/ is missing: run `npm run build:server` (npm run chaos does it)');
  const { startEmbeddedPostgres, freePort } = (await import(EMBEDDED)) as Embedded;
  const dir = mkdtempSync(join(tmpdir(), 'sundial-chaos-'));
  // its own temporary folder: as root, PostgreSQL runs as another user, who must own it
  const pgDir = mkdtempSync(join(tmpdir(), 'sundial-chaos-pg-'));
  const port = await freePort();
  log(`run directory ${dir}, seed ${SEED}, ${QUICK ? 'quick' : 'full'} mode`);
  let pg: PgHandle | undefined = await startEmbeddedPostgres(pgDir, port);
  const pgUrl = pg.url;
  const v = postgres(pgUrl, { max: 1, onnotice: () => {} });
  const [{ version }] = await v`select version()`;
  await v.end();
  try {
    const c = await chaos(dir, pgUrl, async () => {
      await pg!.stop();
      pg = undefined;
      await sleep(1000);
      pg = await startEmbeddedPostgres(pgDir, port);
    });
    const r = c.result;
    log(`chaos: due ${r.due}, executed once ${r.executed}, skipped ${r.skipped}, missing ${r.missing}, twice ${r.duplicated}, unexpected ${r.unexpected}`);
    log(`chaos: lag p50 ${ms(r.lag.p50)}, p99 ${ms(r.lag.p99)}, max ${ms(r.lag.max)}; taken over ${r.rescued}; fenced ${c.fenced}`);
    for (const f of c.faults) log(`  ${f.kind.padEnd(26)} ${f.victim.padEnd(8)} ${f.note.padEnd(40)} window ${f.occurrences} occ, taken over ${f.rescued}, skipped ${f.skipped}, lag p50 ${ms(f.lag.p50)} p99 ${ms(f.lag.p99)} max ${ms(f.lag.max)}`);
    if (r.missing) log(`missing: ${r.missingList.join('; ')}`);
    for (const x of c.crashes) log(`CRASH ${x.node} code ${x.code} signal ${x.signal}:\n${x.tail}`);

    const s = await scaling(dir, pgUrl);
    for (const [i, p] of s.phases.entries()) log(`scaling ${['1 node ', '3 nodes', '1 node '][i]}: ${p.perSec.toFixed(0)}/s, lag p50 ${ms(p.lag.p50)} p99 ${ms(p.lag.p99)} max ${ms(p.lag.max)}; ${fmtShare(p.share)}`);
    log(`scaling: due ${s.result.due}, executed once ${s.result.executed}, missing ${s.result.missing}, twice ${s.result.duplicated}`);

    const ok = r.missing === 0 && r.duplicated === 0 && s.result.missing === 0 && s.result.duplicated === 0 && c.crashes.length === 0;
    if (!args['no-doc']) {
      const previous = existsSync(args.out!) ? readFileSync(args.out!, 'utf8') : undefined;
      const doc = report(c, s, { pgVersion: String(version), wallS: (Date.now() - t0) / 1000, load: load0 }) + '\n';
      writeFileSync(args.out!, keepDrills(doc, previous));
      log(`wrote ${args.out}`);
    }
    log(ok ? 'PASS: every due occurrence executed exactly once (or skipped by policy, with its reason)' : 'FAIL: missing or duplicated occurrences, or a node crashed');
    process.exitCode = ok ? 0 : 1;
  } finally {
    await pg?.stop();
    rmSync(pgDir, { recursive: true, force: true });
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

async function drill() {
  const { drills, render, FAULTS } = await import('./chaos-drill.js');
  // --drill failover,sigkill (at each --rate) or failover@1000,failover@10 (a rate each); all: every fault
  const rates = (args.rate ?? (QUICK ? '20' : '1000')).split(',').map(Number);
  if (rates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--rate: a comma-separated list of occurrences a second, got "${args.rate}"`);
  const plan: { fault: (typeof FAULTS)[number]; rate: number }[] = [];
  for (const item of (args.drill === 'all' ? FAULTS.join(',') : (args.drill ?? 'failover')).split(',')) {
    const [fault, at] = item.split('@');
    if (!(FAULTS as readonly string[]).includes(fault!)) throw new Error(`--drill: unknown fault "${fault}" (one of ${FAULTS.join(', ')}, or all)`);
    const rate = at === undefined ? undefined : Number(at);
    if (rate !== undefined && (!Number.isInteger(rate) || rate < 1)) throw new Error(`--drill: "${item}": the rate after @ is occurrences a second`);
    for (const r of rate ? [rate] : rates) plan.push({ fault: fault as (typeof FAULTS)[number], rate: r });
  }
  const cmd = `npm run chaos -- ${process.argv.slice(2).join(' ')}`;
  const o = {
    plan,
    members: Number(args.members ?? 3),
    windowS: Number(args.window ?? (QUICK ? 45 : 60)),
    quick: QUICK,
    label: args.label,
    // a drill writes its section only when --out is given
    out: process.argv.includes('--out') ? args.out : undefined,
    keep: args.keep!,
  };
  if (args.render) {
    render(args.render, o, cmd);
    return 0;
  }
  return drills(o, cmd);
}

(args.drill || args.render ? drill().then((code) => process.exit(code)) : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
