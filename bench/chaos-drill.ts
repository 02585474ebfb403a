// Single-fault drills under steady load. Each drill gets a fresh database and three
// Sundial node processes, registers a steady offered load through the REST API
// (every-second crons, half of them log tasks and half webhooks to a loopback receiver in
// its own process, plus one-time tasks due throughout, payloads of ~200 bytes), injects
// one fault a third of the way into the window, and audits:
//   - the ledger (runs table, read on the surviving primary): every due occurrence has
//     exactly one run and it succeeded: 0 missing, 0 twice;
//   - end-to-end lag, taken where the work happens: for a webhook when the receiver got
//     the request, for a log task when its run started (started_at);
//   - the receiver: duplicate deliveries (same Idempotency-Key twice), and webhook
//     occurrences that never reached it;
//   - for the failover: time without a writable primary, the occurrences due in that gap
//     and how many fired inside it, and every task the API acknowledged (201) during the
//     run found on the new primary;
//   - node RSS (peak VmRSS of each node process).
//
//   npm run chaos -- --drill failover                      Patroni failover at 1,000/s
//   npm run chaos -- --drill all --rate 1000               every fault at 1,000/s
//   npm run chaos -- --drill failover --rate 10            the failover at 10/s
//   npm run chaos -- --drill failover@1000,failover@10,sigkill@1000   a rate per drill
//   npm run chaos -- --drill failover --quick              the short version (20/s, 45 s window)
//   options: --members 3  --window 60  --label <text> --out docs/reliability.md --keep
//
// Faults: sigkill (a node killed, restarted 5 s later), sigstop (a node frozen for its
// lease + 3 s), sigterm (graceful stop, restarted 2 s later), pg-restart (PostgreSQL
// stopped and started on the same data directory), failover (Patroni: the primary's
// Patroni and PostgreSQL SIGKILLed; a synchronous standby promoted). The first four run on
// embedded PostgreSQL; the failover needs root and Debian's patroni, etcd-server and
// postgresql (`apt-get install patroni etcd-server postgresql`), with `--members` Patroni
// members (3 by default, 2 is the least that can fail over).
//
// Exit code 1 if any drill missed its targets: an occurrence missing, run twice or
// skipped, a worst lag above 10 s, an acknowledged task lost, a node crashed or a node
// above 300 MB RSS. Exit code 2 if the failover's prerequisites are absent.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { pct, pool, sleep } from './lib.js';
import { NodeProc } from './node-proc.js';

type Embedded = typeof import('../src/server/store/embedded-postgres.js');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EMBEDDED = join(ROOT, 'dist/server/store/embedded-postgres.js');
/** The Patroni member configuration docker's HA variant ships; the failover drill runs it. */
export const SHIPPED_PATRONI = join(ROOT, 'deploy/compose/patroni/patroni.yml');

export const FAULTS = ['sigkill', 'sigstop', 'sigterm', 'pg-restart', 'failover'] as const;
export type FaultKind = (typeof FAULTS)[number];

export interface DrillOptions {
  /** the drills to run in order: a fault at a rate (occurrences a second) */
  plan: { fault: FaultKind; rate: number }[];
  members: number;
  windowS: number;
  quick: boolean;
  label?: string;
  out?: string;
  keep: boolean;
}

/** The targets of a drill (issue: keep the 10-second promise across faults). */
export const TARGETS = { maxLagMs: 10_000, maxRssMb: 300 };
const NODE_IDS = ['node-a', 'node-b', 'node-c'];
const LEASE_MS = Number(process.env.SUNDIAL_LEASE_MS ?? 5000);
const PASSWORD = 'sundial';

const until = (t: number) => sleep(t - Date.now());
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);



function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

function gitCommit(): string {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'bin'], { encoding: 'utf8' });
  // the drill harness changes often; what is measured is the server: name its last commit too
  const code = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h', '--', 'src', 'bin', 'package-lock.json'], { encoding: 'utf8' });
  return `${r.stdout.trim() || 'unknown'} (server code ${code.stdout.trim() || '?'}${dirty.stdout.trim() ? ' + uncommitted changes' : ''})`;
}

async function freePort(): Promise<number> {
  const { freePort } = (await import(EMBEDDED)) as Embedded;
  return freePort();
}

// ---------------------------------------------------------------------------- processes

/** The loopback webhook receiver (bench/chaos-receiver.ts) in its own process. */
async function startReceiver(dir: string) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/chaos-receiver.ts'), String(port)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  const out = createWriteStream(join(dir, 'receiver.log'));
  child.stderr!.pipe(out);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`receiver exited ${c}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    async dump(): Promise<{ requests: number; deliveries: [string, number, number][] }> {
      return fetch(`http://127.0.0.1:${port}/dump`).then((r) => r.json() as Promise<{ requests: number; deliveries: [string, number, number][] }>);
    },
    stop() {
      // the pipe ends the log file when the receiver's stderr closes
      child.kill('SIGTERM');
    },
  };
}

// ---------------------------------------------------------------------------- databases

interface Database {
  /** what the nodes connect to */
  url: string;
  /** kind of the server, for the report */
  describe: string;
  /** a connection for the audit, on whichever server is primary now */
  auditUrl(): Promise<string>;
  stop(): Promise<void>;
}

async function embeddedDatabase() {
  const { startEmbeddedPostgres } = (await import(EMBEDDED)) as Embedded;
  // its own folder: as root PostgreSQL runs as another user, who must own it
  const pgDir = mkdtempSync(join(tmpdir(), 'sundial-drill-pg-'));
  const port = await freePort();
  let pg: Awaited<ReturnType<Embedded['startEmbeddedPostgres']>> | undefined = await startEmbeddedPostgres(pgDir, port);
  const v = postgres(pg.url, { max: 1, onnotice: () => {} });
  const [{ version }] = await v`select version()`;
  await v.end();
  const url = pg.url;
  return {
    url,
    describe: `${String(version).split(' on ')[0]} (embedded, one server)`,
    auditUrl: async () => url,
    async restart() {
      await pg!.stop();
      pg = undefined;
      await sleep(1000);
      pg = await startEmbeddedPostgres(pgDir, port);
    },
    async stop() {
      await pg?.stop();
      rmSync(pgDir, { recursive: true, force: true });
    },
  };
}

/** etcd + `members` Patroni-managed Debian PostgreSQL servers, synchronous replication. */
async function patroniDatabase(dir: string, members: number) {
  const pgBin = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').sort().reverse().map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(`${d}/postgres`))
    : undefined;
  const PATRONI = which('patroni');
  const ETCD = which('etcd');
  if (!PATRONI || !ETCD || !pgBin || userInfo().uid !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const pdir = mkdtempSync(join(tmpdir(), 'sundial-drill-patroni-'));
  chownSync(pdir, uid, gid);
  const procs: ChildProcess[] = [];
  const start = (name: string, cmd: string, argv: string[], asPostgres: boolean) => {
    // cwd: a checkout under a folder only root can enter (a home folder is 0700) is no
    // working directory for the postgres user: Patroni fails on it after initdb
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: pdir, ...(asPostgres ? { uid, gid } : {}), env: { ...process.env, HOME: pdir } });
    const out = createWriteStream(join(dir, `${name}.log`));
    // both streams into one file: end it when the process is gone, not when the first
    // stream ends (the other may still write: a write after end throws)
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    child.once('close', () => out.end());
    procs.push(child);
    return child;
  };
  const etcdClient = await freePort();
  const etcdPeer = await freePort();
  start('etcd', ETCD, [
    '--name', 'e1', '--data-dir', join(pdir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `e1=http://127.0.0.1:${etcdPeer}`,
  ], false);
  const ms = await Promise.all(Array.from({ length: members }, async (_, i) => ({ name: `pg${i + 1}`, port: await freePort(), api: await freePort() })));
  const patroni = new Map<string, ChildProcess>();
  // The Patroni settings are the shipped ones (deploy/compose/patroni/patroni.yml: the
  // failover timings and synchronous mode), with this machine's addresses and paths.
  const shipped = parseYaml(readFileSync(SHIPPED_PATRONI, 'utf8'));
  const config = (m: (typeof ms)[number]) =>
    stringifyYaml({
      scope: 'sundial',
      name: m.name,
      restapi: { listen: `127.0.0.1:${m.api}`, connect_address: `127.0.0.1:${m.api}` },
      etcd3: { hosts: `127.0.0.1:${etcdClient}` },
      bootstrap: {
        dcs: shipped.bootstrap.dcs,
        initdb: shipped.bootstrap.initdb,
        pg_hba: ['host replication replicator 127.0.0.1/32 scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256'],
      },
      postgresql: {
        listen: `127.0.0.1:${m.port}`,
        connect_address: `127.0.0.1:${m.port}`,
        data_dir: join(pdir, m.name),
        bin_dir: pgBin,
        pgpass: join(pdir, `${m.name}.pgpass`),
        authentication: { superuser: { username: 'postgres', password: PASSWORD }, replication: { username: 'replicator', password: 'rep' } },
        parameters: { unix_socket_directories: pdir },
      },
    });
  const startMember = (m: (typeof ms)[number]) => {
    const file = join(pdir, `${m.name}.yml`);
    writeFileSync(file, config(m));
    chownSync(file, uid, gid);
    patroni.set(m.name, start(m.name, PATRONI, [file], true));
  };
  const state = async (m: (typeof ms)[number]) =>
    fetch(`http://127.0.0.1:${m.api}/patroni`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ role?: string; state?: string }>, () => undefined);
  const isPrimary = async (m: (typeof ms)[number]) => ['master', 'primary'].includes((await state(m))?.role ?? '');
  const waitFor = async (what: string, fn: () => Promise<boolean>, timeout: number) => {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
      if (await fn().catch(() => false)) return;
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what} (logs in ${dir})`);
  };
  const cluster = async () =>
    fetch(`http://127.0.0.1:${ms[0]!.api}/cluster`).then((r) => r.json() as Promise<{ members: { name: string; role: string; state: string }[] }>);
  const teardown = async () => {
    for (const p of procs) p.kill('SIGKILL');
    // a killed Patroni leaves its PostgreSQL running: stop what is left on our data dirs
    for (const m of ms) {
      const pid = join(pdir, m.name, 'postmaster.pid');
      if (existsSync(pid)) {
        try {
          process.kill(Number(readFileSync(pid, 'utf8').split('\n')[0]), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await sleep(500);
    rmSync(pdir, { recursive: true, force: true });
  };
  try {
    startMember(ms[0]!);
    await waitFor('pg1 primary', () => isPrimary(ms[0]!), 90_000);
    for (const m of ms.slice(1)) startMember(m);
    await waitFor('replicas streaming', async () => (await cluster()).members.filter((x) => x.role !== 'leader' && (x.state === 'streaming' || x.state === 'running')).length >= members - 1, 120_000);
    await waitFor('a synchronous standby', async () => (await cluster()).members.some((x) => x.role === 'sync_standby'), 60_000);
  } catch (err) {
    await teardown();
    throw err;
  }
  const c = await cluster();
  log(`Patroni: ${c.members.map((m) => `${m.name} ${m.role}`).join(', ')}`);
  const hosts = ms.map((m) => `127.0.0.1:${m.port}`).join(',');
  return {
    url: `postgres://postgres:${PASSWORD}@${hosts}/postgres?target_session_attrs=primary`,
    describe: `${members} × PostgreSQL ${pgBin.split('/').at(-2)} (Debian) under Patroni ${patroniVersion()} with etcd ${etcdVersion()}, deploy/compose/patroni/patroni.yml's settings (synchronous_mode ${shipped.bootstrap.dcs.synchronous_mode}, ttl ${shipped.bootstrap.dcs.ttl} s, loop_wait ${shipped.bootstrap.dcs.loop_wait} s, retry_timeout ${shipped.bootstrap.dcs.retry_timeout} s)`,
    async primary() {
      for (const m of ms) if (await isPrimary(m)) return m;
      return undefined;
    },
    /** SIGKILLs the primary's Patroni and its PostgreSQL: a machine gone */
    async killPrimary() {
      const p = await this.primary();
      if (!p) throw new Error('no primary to kill');
      const pid = Number(readFileSync(join(pdir, p.name, 'postmaster.pid'), 'utf8').split('\n')[0]);
      patroni.get(p.name)!.kill('SIGKILL');
      process.kill(pid, 'SIGKILL');
      return p.name;
    },
    async roles() {
      const out: string[] = [];
      for (const m of ms) out.push(`${m.name} ${(await state(m))?.role ?? 'down'}`);
      return out.join(', ');
    },
    auditUrl: async () => `postgres://postgres:${PASSWORD}@${hosts}/postgres?target_session_attrs=primary`,
    stop: teardown,
  };
}

function patroniVersion() {
  return /(\d+\.\d+\.\d+)/.exec(spawnSync('patroni', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
}
function etcdVersion() {
  return /etcd Version: (\S+)/.exec(spawnSync('etcd', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
}

/** First moment a fresh connection on `url` can write (txid_current needs a primary). */
async function waitWritable(url: string, timeoutMs: number): Promise<number | undefined> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const sql = postgres(url, { max: 1, connect_timeout: 1, idle_timeout: 1, onnotice: () => {} });
    const ok = await Promise.race([sql`select txid_current()`.then(() => true, () => false), sleep(1500).then(() => false)]);
    void sql.end({ timeout: 0 }).catch(() => {});
    if (ok) return Date.now();
    await sleep(100);
  }
  return undefined;
}

// ---------------------------------------------------------------------------- workload

interface Expected {
  /** taskId → scheduled instants (ms) */
  times: Map<string, number[]>;
  webhook: Set<string>;
  /** when the API acknowledged each task (ms) */
  ackedAt: Map<string, number>;
}

const PAYLOAD = { note: 'drill', blob: 'x'.repeat(170) }; // ~200 bytes serialized

async function post(nodes: NodeProc[], body: unknown, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const live = nodes.filter((n) => n.alive);
    const n = live[Math.floor(Math.random() * live.length)];
    if (!n) break;
    try {
      const res = await fetch(`${n.url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: await res.json() };
    } catch (err) {
      lastErr = err;
      await sleep(200);
    }
  }
  throw new Error(`API unreachable: ${String(lastErr)}`);
}

function action(webhook: boolean, hook: string) {
  return webhook ? { type: 'webhook', url: hook, timeoutMs: 5000 } : { type: 'log' };
}

/**
 * `rate` occurrences a second over [from, to]: 90 % from every-second crons (bounded by
 * startAt/endAt, so the set of occurrences is exact), 10 % one-time tasks spread
 * evenly; alternately log and webhook.
 */
async function registerLoad(nodes: NodeProc[], rate: number, from: number, to: number, hook: string, ex: Expected) {
  const crons = Math.max(1, Math.round(rate * 0.9));
  const oncePerS = Math.max(0, rate - crons);
  const startAt = new Date(from);
  const endAt = new Date(to + 500);
  await pool(Array.from({ length: crons }, (_, i) => i), 16, async (i) => {
    const webhook = i % 2 === 1;
    const res = await post(nodes, { name: `cron-${i}`, schedule: { type: 'cron', expression: '* * * * * *', startAt: startAt.toISOString(), endAt: endAt.toISOString() }, action: action(webhook, hook), payload: PAYLOAD });
    if (res.status !== 201) throw new Error(`create cron: ${res.status} ${JSON.stringify(res.body)}`);
    const times: number[] = [];
    for (let t = from; t <= to; t += 1000) times.push(t);
    ex.times.set(res.body.id, times);
    ex.ackedAt.set(res.body.id, Date.now());
    if (webhook) ex.webhook.add(res.body.id);
  });
  const onceAt = oncePerS ? Array.from({ length: Math.floor(((to - from) / 1000) * oncePerS) }, (_, i) => from + Math.round((i * 1000) / oncePerS) + 7) : [];
  await pool(onceAt, 16, async (at, i) => {
    const webhook = i % 2 === 1;
    const res = await post(nodes, { name: `once-${i}`, schedule: { type: 'once', at: new Date(at).toISOString() }, action: action(webhook, hook), payload: PAYLOAD });
    if (res.status !== 201) throw new Error(`create once: ${res.status} ${JSON.stringify(res.body)}`);
    ex.times.set(res.body.id, [at]);
    ex.ackedAt.set(res.body.id, Date.now());
    if (webhook) ex.webhook.add(res.body.id);
  });
  return { crons, oncePerS };
}

/**
 * Registers one-time tasks (due 3–12 s later) at ~`perS` a second while the drill runs,
 * through whichever node answers: those acknowledged with 201 must exist on the
 * database the audit reads, whatever happened to the primary in between. A request
 * without an answer may or may not have committed: its task is found by name later.
 */
function writer(nodes: NodeProc[], perS: number, stopAt: number, hook: string, ex: Expected) {
  const attempted: { name: string; at: number; webhook: boolean }[] = [];
  let refused = 0;
  let unanswered = 0;
  let n = 0;
  const done = (async () => {
    const inflight = new Set<Promise<void>>();
    while (Date.now() < stopAt - 12_000) {
      const name = `ack-${n++}`;
      const at = Math.round(Date.now() + 3000 + Math.random() * 9000);
      const webhook = n % 2 === 0;
      attempted.push({ name, at, webhook });
      const p = post(nodes, { name, schedule: { type: 'once', at: new Date(at).toISOString() }, action: action(webhook, hook), payload: PAYLOAD }, 5000)
        .then((res) => {
          if (res.status === 201) {
            ex.times.set(res.body.id, [new Date(res.body.schedule.at).getTime()]);
            ex.ackedAt.set(res.body.id, Date.now());
            if (webhook) ex.webhook.add(res.body.id);
          } else refused++;
        }, () => void unanswered++)
        .finally(() => inflight.delete(p));
      inflight.add(p);
      await sleep(1000 / perS);
    }
    await Promise.all(inflight);
  })();
  return { done, attempted, stats: () => ({ attempted: attempted.length, refused, unanswered }) };
}

// ---------------------------------------------------------------------------- one drill

interface DrillResult {
  fault: FaultKind;
  rate: number;
  commit: string;
  cmd?: string;
  database: string;
  at: string;
  windowS: number;
  tasks: number;
  detail: string;
  gap: { from: number; to: number; ms: number };
  due: number;
  executed: number;
  skipped: number;
  missing: number;
  twice: number;
  missingSample: string[];
  /** up to 5 deliveries the receiver saw twice on runs never taken over, with the run's attempts */
  duplicateSample?: string[];
  lag: { n: number; p50: number; p99: number; max: number; worstWhat: string };
  lagPreFault: number;
  dueInGap: number;
  firedInGap: number;
  gapLagMax: number;
  acked: number;
  ackedFound: number;
  unackedFound: number;
  /** worst lag of occurrences of those tasks (outside the 10 s bound: nobody was told they exist) */
  unackedLagMax?: number;
  /** occurrences of tasks acknowledged only after their own time, and their worst lag */
  ackedLate?: { n: number; lagMax: number };
  writer: { attempted: number; refused: number; unanswered: number };
  webhooksDue: number;
  /** webhook occurrences the receiver never saw (skipped and missing ones included) */
  webhooksNotDelivered: number;
  webhooksSucceededUndelivered?: number;
  /** a sentence about the conditions of the run, shown under its table */
  note?: string;
  duplicateDeliveries: number;
  /** of those, on runs never taken over (attempt 1): a delivery retried after its request had arrived */
  duplicatesWithinRun?: number;
  duplicateKeys: number;
  rescued: number;
  lagBeforeFault: number;
  /** worst lag and the gap's occurrences, log tasks and webhooks apart */
  byKind?: Record<'log' | 'webhook', { max: number; dueInGap: number; firedInGap: number }>;
  timeline: { fromS: number; n: number; p50: number; p99: number; max: number }[];
  byNode: Record<string, number>;
  /** 1-minute load average over the drill: mean and max */
  load: { mean: number; max: number };
  peakRssMb: number;
  crashes: string[];
  pass: boolean;
  failures: string[];
}

async function runDrill(fault: FaultKind, rate: number, o: DrillOptions): Promise<DrillResult | undefined> {
  const dir = mkdtempSync(join(tmpdir(), `sundial-drill-${fault}-`));
  log(`drill ${fault} at ${rate}/s: run directory ${dir}`);
  const patroni = fault === 'failover' ? await patroniDatabase(dir, o.members) : undefined;
  if (fault === 'failover' && !patroni) {
    console.error('the failover drill needs root and: apt-get install -y patroni etcd-server postgresql');
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const embedded = patroni ? undefined : await embeddedDatabase();
  const db: Database = (patroni ?? embedded)!;
  const receiver = await startReceiver(dir);
  const nodes = NODE_IDS.map((id) => new NodeProc(id, db.url, dir));
  // the machine is shared: the 1-minute load average during the drill is part of its result
  const loads: number[] = [];
  const rss = setInterval(() => {
    nodes.forEach((n) => n.sampleRss());
    loads.push(loadavg()[0]!);
  }, 1000);
  let supervisor: NodeJS.Timeout | undefined;
  let tornDown: Promise<void> | undefined;
  const teardown = () =>
    (tornDown ??= (async () => {
      clearInterval(rss);
      if (supervisor) clearInterval(supervisor);
      await Promise.all(nodes.map((n) => n.stop()));
      nodes.forEach((n) => n.close());
      receiver.stop();
      await db.stop();
      if (!o.keep) rmSync(dir, { recursive: true, force: true });
      else log(`kept ${dir}`);
    })());
  // interrupted (Ctrl-C, a CI timeout): stop the nodes, Patroni, etcd and PostgreSQL first
  const interrupted = () => void teardown().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await Promise.all(nodes.map((n) => n.start()));
    log(`3 nodes up on ${db.describe}`);
    const ex: Expected = { times: new Map(), webhook: new Set(), ackedAt: new Map() };
    // registration rate on this machine decides when the window can start
    const expectedTasks = Math.round(rate * 0.9) + Math.floor(o.windowS * Math.max(0, rate - Math.round(rate * 0.9)));
    // (tasks far in the future, never due; the first 50 warm the nodes up and are not timed)
    const calibrate = (n: number, offset: number) =>
      pool(Array.from({ length: n }, (_, i) => i + offset), 16, async (i) => {
        await post(nodes, { name: `calibration-${i}`, schedule: { type: 'once', at: '2199-01-01T00:00:00Z' } });
      });
    await calibrate(50, 0);
    const calib = Date.now();
    await calibrate(200, 50);
    const regRate = 200 / ((Date.now() - calib) / 1000);
    const from = Math.ceil((Date.now() + 5000 + (expectedTasks / regRate) * 1300) / 1000) * 1000;
    const to = from + o.windowS * 1000;
    const shape = await registerLoad(nodes, rate, from, to, receiver.url, ex);
    if (Date.now() > from - 2000) log(`warning: registration ended ${((Date.now() - from) / 1000).toFixed(1)} s into the window`);
    log(`${ex.times.size} tasks (${shape.crons} every-second crons, ${shape.oncePerS} one-time/s, half webhooks), window ${o.windowS} s starts in ${((from - Date.now()) / 1000).toFixed(1)} s`);
    const w = writer(nodes, Math.min(20, Math.max(2, rate / 50)), to, receiver.url, ex);
    // an orchestrator's restart policy: a node that died on its own is started again
    supervisor = setInterval(() => {
      for (const n of nodes) if (!n.alive && !n.down) void n.start().catch((err) => log(`restart of ${n.id} failed: ${err}`));
    }, 1000);

    const faultAt = from + Math.round((o.windowS * 1000) / 3);
    await until(faultAt);
    const victim = nodes[1]!;
    let gapFrom = Date.now();
    let gapTo = gapFrom;
    let detail = '';
    if (fault === 'sigkill') {
      victim.down = true;
      victim.signal('SIGKILL');
      await victim.exited;
      log(`fault: SIGKILL ${victim.id}`);
      await sleep(5000);
      victim.down = false;
      await victim.start();
      gapTo = Date.now();
      detail = `${victim.id} SIGKILLed, restarted after ${((gapTo - gapFrom) / 1000).toFixed(1)} s`;
    } else if (fault === 'sigstop') {
      victim.signal('SIGSTOP');
      log(`fault: SIGSTOP ${victim.id}`);
      await sleep(LEASE_MS + 3000);
      victim.signal('SIGCONT');
      gapTo = Date.now();
      detail = `${victim.id} frozen ${((gapTo - gapFrom) / 1000).toFixed(1)} s (lease ${LEASE_MS / 1000} s)`;
    } else if (fault === 'sigterm') {
      const { code, drainMs: drain } = await victim.terminateAndRestart();
      gapTo = Date.now();
      log(`fault: SIGTERM ${victim.id}: exit ${code} after ${drain} ms, restarted 2 s later`);
      detail = `${victim.id} exit ${code} in ${drain} ms, restarted after ${((gapTo - gapFrom) / 1000).toFixed(1)} s`;
    } else if (fault === 'pg-restart') {
      log('fault: PostgreSQL restart');
      await (embedded as Awaited<ReturnType<typeof embeddedDatabase>>).restart();
      gapTo = (await waitWritable(db.url, 60_000)) ?? Date.now();
      detail = `PostgreSQL down ${((gapTo - gapFrom) / 1000).toFixed(1)} s`;
    } else {
      const p = patroni!;
      const killed = await p.killPrimary();
      gapFrom = Date.now();
      log(`fault: SIGKILL ${killed} (Patroni and its PostgreSQL, the primary)`);
      const back = await waitWritable(db.url, 120_000);
      gapTo = back ?? Date.now();
      detail = `${killed} killed; writable primary again after ${((gapTo - gapFrom) / 1000).toFixed(1)} s (${await p.roles()})`;
    }
    log(`fault lifted: ${detail}`);
    await w.done;
    // let everything due fall due and be recorded, then wait until the ledger stops growing
    await until(to + 10_000);
    const auditUrl = await db.auditUrl();
    const sql = postgres(auditUrl, { max: 1, onnotice: () => {} });
    // settle: every occurrence of the window has a row and none is still pending or
    // running (webhook retries, rescues), or 90 s passed: what is left is reported missing
    const dueCount = () => [...ex.times.values()].reduce((a, t) => a + t.length, 0);
    const settleEnd = Date.now() + 90_000;
    while (Date.now() < settleEnd) {
      const [{ done, open }] = await sql<{ done: number; open: number }[]>`
        select count(*) filter (where status in ('succeeded', 'failed', 'skipped'))::int as done,
               count(*) filter (where status in ('pending', 'running'))::int as open
        from runs where trigger = 'schedule' and scheduled_for <= ${new Date(to + 15_000)}`;
      if (done >= dueCount() && open === 0) break;
      await sleep(2000);
    }
    clearInterval(supervisor);
    supervisor = undefined;
    const runs = await sql<{ taskId: string; scheduledFor: Date; status: string; attempt: number; nodeId: string | null; startedAt: Date | null; claimedAt: Date | null; deliveries: { n: number; startedAt: string; durationMs: number; nodeId: string; statusCode?: number; error?: string; deferred?: boolean }[] | null }[]>`
      select task_id as "taskId", scheduled_for as "scheduledFor", status, attempt, node_id as "nodeId", started_at as "startedAt", claimed_at as "claimedAt", deliveries
      from runs where trigger = 'schedule'`;
    const ackNames = new Set(w.attempted.map((a) => a.name));
    const taskRows = await sql<{ id: string; name: string; nextRunAt: Date | null }[]>`select id, name, next_run_at as "nextRunAt" from tasks`;
    await sql.end();
    const dump = await receiver.dump();

    // tasks committed although their request got no answer: their occurrence is due too
    let unackedFound = 0;
    const unacked = new Set<string>();
    const attemptedAt = new Map(w.attempted.map((a) => [a.name, a]));
    for (const t of taskRows) {
      if (ackNames.has(t.name) && !ex.times.has(t.id)) {
        unackedFound++;
        unacked.add(t.id);
        const a = attemptedAt.get(t.name)!;
        ex.times.set(t.id, [a.at]);
        if (a.webhook) ex.webhook.add(t.id);
      }
    }
    const present = new Set(taskRows.map((t) => t.id));
    const acked = ex.ackedAt.size;
    const ackedFound = [...ex.ackedAt.keys()].filter((id) => present.has(id)).length;

    const delivered = new Map<string, { first: number; count: number }>();
    for (const [key, first, count] of dump.deliveries) delivered.set(key, { first, count });
    const byOcc = new Map<string, (typeof runs)[number][]>();
    for (const r of runs) {
      const k = `${r.taskId}@${r.scheduledFor.getTime()}`;
      const list = byOcc.get(k);
      if (list) list.push(r);
      else byOcc.set(k, [r]);
    }
    let dupWithinRun = 0;
    const dupSample: string[] = [];
    let due = 0, executed = 0, skipped = 0, missing = 0, twice = 0, webhooksDue = 0, notDelivered = 0, succeededUndelivered = 0, dupDeliveries = 0, dupKeys = 0;
    let dueInGap = 0, firedInGap = 0, gapLagMax = -Infinity, lagPreFault = -Infinity, rescued = 0;
    const missingSample: string[] = [];
    // the latest executions of acknowledged tasks, to say why they were late
    const lateSample: { lag: number; what: string }[] = [];
    const nameOf = new Map(taskRows.map((t) => [t.id, t.name]));
    const byNode: Record<string, number> = {};
    const byKind = { log: { max: -Infinity, dueInGap: 0, firedInGap: 0 }, webhook: { max: -Infinity, dueInGap: 0, firedInGap: 0 } };
    // lags by due time, 5 s buckets from the window's start; the worst lag before the fault
    const buckets: number[][] = [];
    let lagBeforeFault = -Infinity;
    const lags: number[] = [];
    let worst = { lag: -Infinity, what: '' };
    // the 10 s bound covers the tasks the API acknowledged; a create that got no answer
    // (its COMMIT landed as the primary died) is audited for loss and doubles, and its
    // lag is reported apart
    let ackedLagMax = -Infinity;
    let unackedLagMax = -Infinity;
    // acknowledged only after their own time (the create waited out the outage): late
    // by the create's own delay whatever the scheduler does; reported apart too
    let ackedLateLagMax = -Infinity;
    let ackedLate = 0;
    for (const [taskId, times] of ex.times) {
      const isHook = ex.webhook.has(taskId);
      const preFault = (ex.ackedAt.get(taskId) ?? 0) < gapFrom;
      for (const t of times) {
        due++;
        const rs = byOcc.get(`${taskId}@${t}`) ?? [];
        if (rs.length > 1) twice += rs.length - 1;
        const ok = rs.find((r) => r.status === 'succeeded');
        if (ok) executed++;
        else if (rs.some((r) => r.status === 'skipped')) skipped++;
        else {
          missing++;
          if (missingSample.length < 10) missingSample.push(`${taskId}@${new Date(t).toISOString()} (${rs.map((r) => `${r.status} on ${r.nodeId ?? '-'} attempt ${r.attempt}`).join(', ') || 'no row'}${isHook ? ', webhook' : ', log'})`);
        }
        if (ok && ok.attempt > 1) rescued++;
        if (ok) byNode[ok.nodeId ?? '-'] = (byNode[ok.nodeId ?? '-'] ?? 0) + 1;
        // the moment the execution started, where it happened
        let started: number | undefined;
        if (isHook) {
          webhooksDue++;
          const d = delivered.get(`${taskId}:${new Date(t).toISOString()}`);
          if (d) {
            started = d.first;
            if (d.count > 1) {
              dupKeys++;
              dupDeliveries += d.count - 1;
              // on a run never taken over: a delivery retried although its request had arrived
              if ((ok?.attempt ?? 1) <= 1) {
                dupWithinRun += d.count - 1;
                // what the run's own record says about its attempts: why it sent again
                if (dupSample.length < 5) {
                  const attempts = (ok?.deliveries ?? []).map((a) => `#${a.n} ${a.startedAt.slice(11, 23)} ${a.durationMs} ms ${a.statusCode ?? a.error ?? (a.deferred ? 'deferred' : '?')}`);
                  dupSample.push(`${taskId}@${new Date(t).toISOString()} received ${d.count}×, attempts: ${attempts.join('; ') || 'none recorded'}`);
                }
              }
            }
          } else {
            notDelivered++;
            // the ledger says delivered, the receiver never saw it: a lie in the ledger
            if (ok) succeededUndelivered++;
          }
        } else if (ok?.startedAt) started = ok.startedAt.getTime();
        if (started !== undefined) {
          const lag = started - t;
          lags.push(lag);
          const ackedAfter = (ex.ackedAt.get(taskId) ?? -Infinity) > t;
          if (unacked.has(taskId)) unackedLagMax = Math.max(unackedLagMax, lag);
          else if (ackedAfter) {
            ackedLateLagMax = Math.max(ackedLateLagMax, lag);
            ackedLate++;
          } else ackedLagMax = Math.max(ackedLagMax, lag);
          if (!unacked.has(taskId) && lag > TARGETS.maxLagMs / 2) {
            const claimedAhead = ok?.claimedAt ? `claimed ${((t - ok.claimedAt.getTime()) / 1000).toFixed(1)} s before its time` : 'claim time unknown';
            lateSample.push({ lag, what: `${nameOf.get(taskId) ?? taskId} due +${((t - from) / 1000).toFixed(1)} s (${isHook ? 'webhook' : 'log'}), lag ${fmt(lag)}, attempt ${ok?.attempt ?? '?'} on ${ok?.nodeId ?? '?'}, ${claimedAhead}, acknowledged ${(((ex.ackedAt.get(taskId) ?? NaN) - t) / 1000).toFixed(1)} s from its time` });
          }
          const bucket = Math.floor((t - from) / 5000);
          (buckets[bucket] ??= []).push(lag);
          if (t < gapFrom - 2000) lagBeforeFault = Math.max(lagBeforeFault, lag);
          if (!unacked.has(taskId) && !ackedAfter && lag > worst.lag) worst = { lag, what: `${isHook ? 'webhook' : 'log'} due +${((t - from) / 1000).toFixed(1)} s, attempt ${ok?.attempt ?? '?'} on ${ok?.nodeId ?? '?'}` };
          if (preFault) lagPreFault = Math.max(lagPreFault, lag);
          if (t >= gapFrom && t < gapTo) gapLagMax = Math.max(gapLagMax, lag);
          const kind = isHook ? 'webhook' : 'log';
          byKind[kind].max = Math.max(byKind[kind].max, lag);
        }
        if (t >= gapFrom && t < gapTo) {
          dueInGap++;
          byKind[isHook ? 'webhook' : 'log'].dueInGap++;
          if (started !== undefined && started < gapTo) {
            firedInGap++;
            byKind[isHook ? 'webhook' : 'log'].firedInGap++;
          }
        }
      }
    }
    lags.sort((a, b) => a - b);
    const timeline = [...buckets.entries()].map(([i, b]) => {
      const sorted = (b ?? []).sort((x, y) => x - y);
      return { fromS: i * 5, n: sorted.length, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted.at(-1) ?? NaN };
    });
    const crashes = nodes.flatMap((n) => n.crashes.map((c) => `${n.id} exited code ${c.code} signal ${c.signal}: ${c.tail.split('\n').at(-1)}`));
    const peakRssMb = Math.max(...nodes.map((n) => n.peakRssMb));
    const failures: string[] = [];
    if (missing) failures.push(`${missing} missing`);
    if (twice) failures.push(`${twice} twice`);
    if (skipped) failures.push(`${skipped} skipped (not executed)`);
    if (succeededUndelivered) failures.push(`${succeededUndelivered} webhook runs recorded as succeeded never reached the receiver`);
    if (ackedLagMax > TARGETS.maxLagMs) failures.push(`worst lag ${fmt(ackedLagMax)} > 10 s`);
    if (ackedFound < acked) failures.push(`${acked - ackedFound} acknowledged tasks lost`);
    if (crashes.length) failures.push(`${crashes.length} node crashes`);
    if (peakRssMb > TARGETS.maxRssMb) failures.push(`node RSS ${peakRssMb.toFixed(0)} MB > ${TARGETS.maxRssMb} MB`);
    const r: DrillResult = {
      fault, rate, commit: gitCommit(), database: db.describe, at: new Date().toISOString(), windowS: o.windowS, tasks: ex.times.size, detail,
      gap: { from: gapFrom - from, to: gapTo - from, ms: gapTo - gapFrom },
      due, executed, skipped, missing, twice, missingSample, duplicateSample: dupSample,
      lag: { n: lags.length, p50: pct(lags, 0.5), p99: pct(lags, 0.99), max: Number.isFinite(ackedLagMax) ? ackedLagMax : NaN, worstWhat: worst.what },
      unackedLagMax,
      ackedLate: { n: ackedLate, lagMax: ackedLateLagMax },
      lagPreFault, dueInGap, firedInGap, gapLagMax,
      acked, ackedFound, unackedFound, writer: w.stats(),
      webhooksDue, webhooksNotDelivered: notDelivered, webhooksSucceededUndelivered: succeededUndelivered, duplicateDeliveries: dupDeliveries, duplicatesWithinRun: dupWithinRun, duplicateKeys: dupKeys, rescued, byNode, lagBeforeFault, timeline, byKind,
      load: { mean: loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length), max: Math.max(...loads) },
      peakRssMb, crashes, pass: failures.length === 0, failures,
    };
    log(`${fault} at ${rate}/s: ${r.pass ? 'PASS' : `FAIL (${failures.join('; ')})`}`);
    log(`  due ${due}, executed ${executed}, skipped ${skipped}, missing ${missing}, twice ${twice}; lag p50 ${fmt(r.lag.p50)} p99 ${fmt(r.lag.p99)} max ${fmt(r.lag.max)} (${worst.what})`);
    log(`  gap ${fmt(r.gap.ms)}: due in it ${dueInGap}, fired in it ${firedInGap}, worst lag of those ${fmt(gapLagMax)}; acked ${ackedFound}/${acked} found (+${unackedFound} unanswered but committed, worst lag ${fmt(unackedLagMax)}; ${ackedLate} acknowledged after their time, worst lag ${fmt(ackedLateLagMax)}); receiver duplicates ${dupDeliveries} over ${dupKeys} keys (${dupWithinRun} on runs never taken over); taken over ${rescued}; load average mean ${r.load.mean.toFixed(1)} max ${r.load.max.toFixed(1)} on ${cpus().length} cores; executions by node ${JSON.stringify(byNode)}; peak RSS ${peakRssMb.toFixed(0)} MB`);
    log(`  log tasks: worst lag ${fmt(byKind.log.max)}, fired in the gap ${byKind.log.firedInGap} of ${byKind.log.dueInGap}; webhooks: worst lag ${fmt(byKind.webhook.max)}, fired in the gap ${byKind.webhook.firedInGap} of ${byKind.webhook.dueInGap}`);
    log(`  worst lag of occurrences due before the fault ${fmt(lagBeforeFault)}; by due time (5 s buckets, gap at +${(r.gap.from / 1000).toFixed(0)}–${(r.gap.to / 1000).toFixed(0)} s): ${timeline.map((b) => `+${b.fromS} ${fmt(b.max)}`).join(', ')}`);
    for (const m of missingSample) log(`  missing ${m}`);
    for (const m of dupSample) log(`  twice at the receiver ${m}`);
    for (const l of lateSample.sort((a, b) => b.lag - a.lag).slice(0, 12)) log(`  late ${l.what}`);
    for (const c of crashes) log(`  CRASH ${c}`);
    return r;
  } finally {
    await teardown();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

// ---------------------------------------------------------------------------- report

const START = (label: string) => `<!-- drill:${label}:start -->`;
const END = (label: string) => `<!-- drill:${label}:end -->`;

function section(results: DrillResult[], o: DrillOptions, cmd: string): string {
  const label = o.label ?? results[0]!.commit;
  const rows = results.map((r) =>
    `| ${r.fault} | ${r.rate}/s | ${r.detail} | ${fmt(r.gap.ms)} | ${r.dueInGap} / ${r.firedInGap} | ${r.due} | **${r.missing}** | **${r.twice}** | ${r.skipped} | ${fmt(r.lag.p50)} | ${fmt(r.lag.p99)} | **${fmt(r.lag.max)}** | ${fmt(r.lagBeforeFault ?? NaN)} | ${fmt(r.gapLagMax)} | ${r.ackedFound} / ${r.acked} | ${r.duplicateDeliveries} | ${r.rescued} | ${r.peakRssMb.toFixed(0)} MB | ${r.load ? `${r.load.mean.toFixed(1)} / ${r.load.max.toFixed(1)}` : '–'} | ${r.pass ? 'pass' : `**fail**: ${r.failures.join('; ')}`} |`);
  return [
    START(label),
    `### ${label}`,
    '',
    `Commit \`${results[0]!.commit}\`, measured ${results[0]!.at.slice(0, 16).replace('T', ' ')} UTC with \`${results[0]!.cmd ?? cmd}\`; ${cpus().length} cores shared with other work (the load average column: other sessions' benchmarks ran at the same time), ` +
      `Node ${process.version}. Window ${o.windowS} s per drill, the fault a third of the way in; three Sundial nodes with default settings` +
      `${Object.keys(process.env).filter((k) => k.startsWith('SUNDIAL_')).map((k) => ` ${k}=${process.env[k]}`).join(',') || ''}. ` +
      `Databases: ${[...new Set(results.map((r) => r.database))].join('; ')}.`,
    '',
    ...[...new Set(results.map((r) => r.note).filter(Boolean))].flatMap((n) => [n!, '']),
    '| fault | load | what happened | gap | due in gap / fired in gap | due | missing | twice | skipped | lag p50 | lag p99 | worst lag (acknowledged tasks) | worst lag, due before the fault | worst lag, due in gap | acknowledged tasks found / acknowledged | duplicate deliveries | taken over | peak node RSS | load average mean / max | verdict |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    ...results.filter((r) => r.byKind).map((r) => `- ${r.fault} at ${r.rate}/s: log tasks worst lag ${fmt(r.byKind!.log.max)}, ${r.byKind!.log.firedInGap} of ${r.byKind!.log.dueInGap} due in the gap fired inside it; webhooks worst lag ${fmt(r.byKind!.webhook.max)}, ${r.byKind!.webhook.firedInGap} of ${r.byKind!.webhook.dueInGap}.`),
    ...results.filter((r) => r.duplicateDeliveries).map((r) => `- ${r.fault} at ${r.rate}/s: ${r.duplicateDeliveries} duplicate deliveries over ${r.duplicateKeys} idempotency keys, one run in the ledger each: ${r.duplicateDeliveries - (r.duplicatesWithinRun ?? 0)} after the run was taken over, ${r.duplicatesWithinRun ?? 0} on runs never taken over (a delivery retried although its request had arrived).`),
    ...results.filter((r) => r.ackedLate?.n).map((r) => `- ${r.fault} at ${r.rate}/s: ${r.ackedLate!.n} tasks were acknowledged only after their own time (their create waited out the outage); worst lag ${fmt(r.ackedLate!.lagMax)} from that time, not in the "worst lag" column.`),
    ...results.filter((r) => r.unackedFound).map((r) => `- ${r.fault} at ${r.rate}/s: ${r.unackedFound} tasks whose create request got no answer were committed anyway; their occurrences were audited too${r.unackedLagMax !== undefined && Number.isFinite(r.unackedLagMax) ? ` (none lost, none twice; worst lag ${fmt(r.unackedLagMax)}, not in the "worst lag" column, which covers acknowledged tasks: the bound is for tasks that existed before the fault)` : ''}.`),
    ...(results.some((r) => r.timeline) ? [
    '',
    '<details><summary>Worst lag by due time (5 s buckets from the window\'s start)</summary>',
    '',
    `| drill | ${(results.find((r) => r.timeline)?.timeline ?? []).map((b) => `+${b.fromS} s`).join(' | ')} |`,
    `|---|${(results.find((r) => r.timeline)?.timeline ?? []).map(() => '---:').join('|')}|`,
    ...results.filter((r) => r.timeline).map((r) => `| ${r.fault} ${r.rate}/s (gap +${(r.gap.from / 1000).toFixed(0)}–${(r.gap.to / 1000).toFixed(0)} s) | ${r.timeline.map((b) => fmt(b.max)).join(' | ')} |`),
    '',
    '</details>',
    ] : []),
    END(label),
  ].join('\n');
}

function writeReport(file: string, text: string, label: string) {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = doc.indexOf(START(label));
  const b = doc.indexOf(END(label));
  let next: string;
  if (a >= 0 && b > a) next = doc.slice(0, a) + text + doc.slice(b + END(label).length);
  else {
    // a new label goes at the end of the drills section, before its closing marker
    const end = doc.indexOf('<!-- drills:end -->');
    next = end >= 0 ? `${doc.slice(0, end)}${text}\n\n${doc.slice(end)}` : `${doc}\n${text}\n`;
  }
  writeFileSync(file, next);
}

/** Writes the section of earlier results (the JSON a drill run leaves in the temporary directory). */
export function render(jsonFile: string, o: DrillOptions, cmd: string) {
  const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as DrillResult[];
  writeReport(o.out!, section(results, o, cmd), o.label ?? results[0]!.commit);
}

export async function drills(o: DrillOptions, cmd: string): Promise<number> {
  if (!existsSync(EMBEDDED)) throw new Error('dist/ is missing: run `npm run build:server` (npm run chaos does it)');
  log(`drills ${o.plan.map((p) => `${p.fault}@${p.rate}`).join(', ')}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
  const results: DrillResult[] = [];
  let unavailable = false;
  let broken = 0;
  for (const { fault, rate } of o.plan) {
    // a drill that could not run (setup failed) fails the batch but not the drills after it
    const r = await runDrill(fault, rate, o).catch((err: unknown) => {
      log(`drill ${fault} at ${rate}/s did not run: ${err instanceof Error ? err.message : String(err)}`);
      broken++;
      return null;
    });
    if (r === undefined) unavailable = true;
    else if (r) results.push({ ...r, cmd });
  }
  for (const r of results) log(`${r.pass ? 'PASS' : 'FAIL'} ${r.fault} ${r.rate}/s: worst lag ${fmt(r.lag.max)}, missing ${r.missing}, twice ${r.twice}, skipped ${r.skipped}, gap ${fmt(r.gap.ms)} (due ${r.dueInGap}, fired in it ${r.firedInGap}), acked ${r.ackedFound}/${r.acked}, duplicates ${r.duplicateDeliveries}, RSS ${r.peakRssMb.toFixed(0)} MB${r.pass ? '' : ` — ${r.failures.join('; ')}`}`);
  if (o.out && results.length) {
    writeReport(o.out, section(results, o, cmd), o.label ?? results[0]!.commit);
    log(`wrote ${o.out}`);
  }
  const json = join(tmpdir(), `sundial-drill-${Date.now()}.json`);
  writeFileSync(json, JSON.stringify(results, null, 2));
  log(`results in ${json}`);
  if (broken) return 1;
  if (unavailable) return 2;
  return results.every((r) => r.pass) ? 0 : 1;
}
