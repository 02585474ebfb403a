// Failover drill: Sundial nodes on a Patroni-managed PostgreSQL pair (etcd as the DCS,
// synchronous replication), the primary killed with SIGKILL while occurrences fire. The
// nodes reach the database through a multi-host URL with target_session_attrs=read-write,
// so they follow whichever server is primary. Measured: time to a new primary, lag of the
// occurrences due around the failover, and the exactly-once audit of the run log.
//
// Needs Debian's patroni, etcd-server and PostgreSQL server binaries, and root (PostgreSQL
// runs as the `postgres` user):
//   apt-get install -y patroni etcd-server postgresql
//   npm run build:server && npx tsx bench/chaos-failover.ts [--out docs/reliability.md]
// With --out, the "Failover" section of that file (between its markers) is replaced.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';

type Embedded = typeof import('../src/server/store/embedded-postgres.js');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { freePort } = (await import(join(ROOT, 'dist/server/store/embedded-postgres.js'))) as Embedded;
const { values: args } = parseArgs({ options: { out: { type: 'string' }, keep: { type: 'boolean', default: false } } });

export const MARK_START = '<!-- failover:start -->';
export const MARK_END = '<!-- failover:end -->';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const pgBin = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql').sort().reverse().map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(`${d}/postgres`))
  : undefined;
const PATRONI = which('patroni');
const ETCD = which('etcd');
if (!PATRONI || !ETCD || !pgBin || userInfo().uid !== 0) {
  console.error('needs root and: apt-get install -y patroni etcd-server postgresql');
  process.exit(2);
}
const UID = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
const GID = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());

const dir = mkdtempSync(join(tmpdir(), 'sundial-failover-'));
chownSync(dir, UID, GID);
const procs: ChildProcess[] = [];
const logFile = (name: string) => createWriteStream(join(dir, `${name}.log`));

function start(name: string, cmd: string, argv: string[], asPostgres: boolean, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(asPostgres ? { uid: UID, gid: GID } : {}), env: { ...process.env, HOME: dir, ...env } });
  const out = logFile(name);
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  procs.push(child);
  return child;
}

const PASSWORD = 'sundial';

async function main() {
  const etcdClient = await freePort();
  const etcdPeer = await freePort();
  start('etcd', ETCD!, [
    '--name', 'e1', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `e1=http://127.0.0.1:${etcdPeer}`,
  ], false);
  const members = await Promise.all(['pg1', 'pg2'].map(async (name) => ({ name, port: await freePort(), api: await freePort() })));
  const patroni = new Map<string, ChildProcess>();
  const config = (m: (typeof members)[number]) => `
scope: sundial
name: ${m.name}
restapi:
  listen: 127.0.0.1:${m.api}
  connect_address: 127.0.0.1:${m.api}
etcd3:
  hosts: 127.0.0.1:${etcdClient}
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 300
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: 'on'
  initdb:
    - encoding: UTF8
  pg_hba:
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:${m.port}
  connect_address: 127.0.0.1:${m.port}
  data_dir: ${join(dir, m.name)}
  bin_dir: ${pgBin}
  pgpass: ${join(dir, `${m.name}.pgpass`)}
  authentication:
    superuser: { username: postgres, password: ${PASSWORD} }
    replication: { username: replicator, password: rep }
  parameters:
    unix_socket_directories: '${dir}'
`;
  const startMember = (m: (typeof members)[number]) => {
    const file = join(dir, `${m.name}.yml`);
    writeFileSync(file, config(m));
    chownSync(file, UID, GID);
    patroni.set(m.name, start(m.name, PATRONI!, [file], true));
  };
  const role = async (m: (typeof members)[number]) =>
    fetch(`http://127.0.0.1:${m.api}/patroni`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ role?: string; state?: string }>, () => undefined);
  const waitFor = async (what: string, fn: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await fn().catch(() => false)) return;
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what} (logs in ${dir})`);
  };

  startMember(members[0]!);
  await waitFor('pg1 primary', async () => (await role(members[0]!))?.role === 'master' || (await role(members[0]!))?.role === 'primary', 90_000);
  startMember(members[1]!);
  await waitFor('pg2 replica streaming', async () => (await role(members[1]!))?.state === 'running' && (await role(members[1]!))?.role === 'replica', 90_000);
  const sync = async () => {
    const c = await fetch(`http://127.0.0.1:${members[0]!.api}/cluster`).then((r) => r.json() as Promise<{ members: { name: string; role: string }[] }>);
    return c.members.some((x) => x.role === 'sync_standby');
  };
  await waitFor('synchronous standby', sync, 60_000);
  log('Patroni pair up: pg1 primary, pg2 synchronous standby');

  const url = `postgres://postgres:${PASSWORD}@${members.map((m) => `127.0.0.1:${m.port}`).join(',')}/postgres?target_session_attrs=read-write`;
  const nodes: { id: string; url: string }[] = [];
  for (const id of ['node-a', 'node-b']) {
    const port = await freePort();
    start(`${id}-sundial`, process.execPath, [join(ROOT, 'bin/sundial.js'), 'serve'], false, {
      PORT: String(port), DATABASE_URL: url, SUNDIAL_NODE_ID: id, LOG_LEVEL: 'info', SUNDIAL_RATE_LIMIT_PER_MINUTE: '0',
    });
    nodes.push({ id, url: `http://127.0.0.1:${port}` });
    await waitFor(`${id} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 60_000);
  }
  log('two Sundial nodes up on the multi-host URL');

  // workload: one-time tasks every 100 ms and 20 every-second crons over 70 s
  const from = Math.ceil((Date.now() + 8000) / 1000) * 1000;
  const to = from + 70_000;
  const expected = new Map<string, number[]>();
  const post = async (body: unknown) => {
    const res = await fetch(`${nodes[0]!.url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { id: string };
    if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(json)}`);
    return json.id;
  };
  for (let i = 0; i < 20; i++) {
    const id = await post({ name: `cron-${i}`, schedule: { type: 'cron', expression: '* * * * * *', startAt: new Date(from).toISOString(), endAt: new Date(to + 500).toISOString() } });
    const times: number[] = [];
    for (let t = from; t <= to; t += 1000) times.push(t);
    expected.set(id, times);
  }
  for (let t = from + 50; t < to; t += 100) expected.set(await post({ name: `once-${t}`, schedule: { type: 'once', at: new Date(t).toISOString() } }), [t]);
  log(`${expected.size} tasks registered; window ${(to - from) / 1000} s`);

  // kill the primary (Patroni and its PostgreSQL) 20 s into the window
  await sleep(from + 20_000 - Date.now());
  const killedAt = Date.now();
  const primaryPid = Number(readFileSync(join(dir, 'pg1', 'postmaster.pid'), 'utf8').split('\n')[0]);
  patroni.get('pg1')!.kill('SIGKILL');
  process.kill(primaryPid, 'SIGKILL');
  log('SIGKILL: pg1 (Patroni and its PostgreSQL, the primary)');
  await waitFor('pg2 promoted', async () => ['master', 'primary'].includes((await role(members[1]!))?.role ?? ''), 120_000);
  const promotedAt = Date.now();
  log(`pg2 is primary ${((promotedAt - killedAt) / 1000).toFixed(1)} s after the kill`);
  const readyAt = await Promise.all(
    nodes.map(async (n) => {
      await waitFor(`${n.id} ready again`, async () => (await fetch(`${n.url}/readyz`)).ok, 60_000);
      return Date.now();
    }),
  );
  await sleep(to + 8000 - Date.now());

  const sql = postgres(`postgres://postgres:${PASSWORD}@127.0.0.1:${members[1]!.port}/postgres`, { max: 1, onnotice: () => {} });
  const runs = await sql<{ task_id: string; scheduled_for: Date; status: string; reason: string | null; attempt: number; node_id: string; lag: number | null }[]>`
    select task_id, scheduled_for, status, reason, attempt, node_id,
           (extract(epoch from started_at - scheduled_for) * 1000)::float8 as lag
    from runs where trigger = 'schedule'`;
  const tasks = await sql<{ n: number }[]>`select count(*)::int as n from tasks`;
  await sql.end();
  const rows = new Map<string, (typeof runs)[number][]>();
  for (const r of runs) {
    const k = `${r.task_id}@${r.scheduled_for.getTime()}`;
    rows.set(k, [...(rows.get(k) ?? []), r]);
  }
  let due = 0, executed = 0, skipped = 0, missing = 0, twice = 0;
  const reasons = new Map<string, number>();
  for (const [id, times] of expected) {
    for (const t of times) {
      due++;
      const rs = rows.get(`${id}@${t}`) ?? [];
      if (rs.length > 1) twice += rs.length - 1;
      if (rs.some((r) => r.status === 'succeeded')) executed++;
      else if (rs.some((r) => r.status === 'skipped')) {
        skipped++;
        const reason = rs.find((r) => r.status === 'skipped')!.reason ?? '';
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      } else missing++;
    }
  }
  const lags = runs.filter((r) => r.status === 'succeeded' && r.lag !== null).map((r) => r.lag!).sort((a, b) => a - b);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.max(0, Math.ceil(p * lags.length) - 1))] ?? NaN;
  const around = runs
    .filter((r) => r.status === 'succeeded' && r.scheduled_for.getTime() >= killedAt - 2000 && r.scheduled_for.getTime() <= promotedAt + 10_000)
    .map((r) => r.lag!)
    .sort((a, b) => a - b);
  const summary = {
    tasksRegistered: expected.size,
    tasksInNewPrimary: tasks[0]!.n,
    due, executed, skipped, missing, twice,
    promotedAfterS: (promotedAt - killedAt) / 1000,
    nodesReadyAfterS: readyAt.map((t) => (t - killedAt) / 1000),
    lagP50: q(0.5), lagP99: q(0.99), lagMax: lags[lags.length - 1],
    aroundMax: around[around.length - 1],
    reasons: Object.fromEntries(reasons),
  };
  log(JSON.stringify(summary));

  if (args.out) {
    const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
    const section = [
      MARK_START,
      '## PostgreSQL failover (Patroni)',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npx tsx bench/chaos-failover.ts --out docs/reliability.md\`: ` +
        `two PostgreSQL ${pgBin!.split('/').at(-2)} servers managed by Patroni 3 (etcd 3.4 as the DCS, \`synchronous_mode: true\`, ` +
        '`ttl: 20`, `loop_wait: 2`), two Sundial nodes on `DATABASE_URL=postgres://…@host1,host2/postgres?target_session_attrs=read-write`, ' +
        `${summary.tasksRegistered} tasks (one-time every 100 ms and 20 every-second crons over 70 s). 20 s in, the primary ` +
        '(Patroni and its PostgreSQL) is killed with SIGKILL.',
      '',
      '| new primary after | nodes ready after | due | executed once | skipped (misfire) | missing | twice | tasks on the new primary / registered | lag p50 | lag p99 | lag max |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${summary.promotedAfterS.toFixed(1)} s | ${summary.nodesReadyAfterS.map((s) => `${s.toFixed(1)} s`).join(', ')} | ${due} | ${executed} | ${skipped} | **${missing}** | **${twice}** | ${summary.tasksInNewPrimary} / ${summary.tasksRegistered} | ${ms(summary.lagP50)} | ${ms(summary.lagP99)} | ${ms(summary.lagMax)} |`,
      '',
      skipped ? `Skipped, with their reasons: ${[...reasons].map(([r, n]) => `${n} × "${r}"`).join('; ')}.` : 'Nothing was skipped.',
      '',
      'The failover itself takes Patroni\'s leader TTL: until the dead primary\'s leader key expires, nobody may promote. ' +
        'Occurrences due in that gap cannot start within 10 s of their time whatever the scheduler does; they fire late (one-time) ' +
        'or follow the misfire policy (recurring), and none is lost or run twice. A shorter TTL shortens the gap.',
      MARK_END,
    ].join('\n');
    const doc = readFileSync(args.out, 'utf8');
    const a = doc.indexOf(MARK_START);
    const b = doc.indexOf(MARK_END);
    let next: string;
    if (a >= 0 && b > a) next = doc.slice(0, a) + section + doc.slice(b + MARK_END.length);
    else {
      // a file written before the markers existed: replace its "not run" section
      const h = doc.indexOf('## Not run: PostgreSQL failover');
      const e = h >= 0 ? doc.indexOf('\n## ', h + 3) : -1;
      next = h >= 0 ? doc.slice(0, h) + section + '\n' + (e >= 0 ? doc.slice(e) : '') : `${doc}\n${section}\n`;
    }
    writeFileSync(args.out, next);
    log(`wrote the failover section of ${args.out}`);
  }
  process.exitCode = missing === 0 && twice === 0 ? 0 : 1;
}

try {
  await main();
} finally {
  for (const p of procs) p.kill('SIGKILL');
  // a killed Patroni leaves its PostgreSQL running: stop what is left on our data dirs
  for (const m of ['pg1', 'pg2']) {
    const pid = join(dir, m, 'postmaster.pid');
    if (existsSync(pid)) {
      try {
        process.kill(Number(readFileSync(pid, 'utf8').split('\n')[0]), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await sleep(500);
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}
