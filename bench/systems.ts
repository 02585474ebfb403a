// One adapter per system under test. Each starts its worker side as a process of its
// own (CPU and peak RSS are read from /proc for that process), registers work through
// the system's own client, and reports, per task index, when the task's code started.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setPriority } from 'node:os';
import postgres from 'postgres';
import { freePort, procUsage, sleep, waitFor } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** where Sundial's built server lives: this checkout, or a pinned build (BENCH_SUNDIAL_ROOT) */
export const SUNDIAL_ROOT = process.env.BENCH_SUNDIAL_ROOT ?? ROOT;

export interface Item {
  i: number;
  /** due time, epoch ms */
  due: number;
}

export interface Outcome {
  /** lag per index in ms; NaN = never started */
  lags: Float64Array;
  dups: number;
}

export interface RecurringStart {
  i: number;
  due: number;
  start: number;
}

export interface System {
  id: string;
  name: string;
  settings: string;
  start(): Promise<void>;
  /** the system's bulk API; resolves when everything is stored */
  insertBulk(items: Item[]): Promise<void>;
  /** one call per task, sequential (the register workload) */
  insertOne(item: Item): Promise<void>;
  /** how many distinct tasks have started so far */
  fired(): Promise<number>;
  outcome(n: number): Promise<Outcome>;
  /** recurring: n schedules every 10 s (6-field cron); null when the system cannot */
  addRecurring?(n: number): Promise<void>;
  recurringStarts?(): Promise<RecurringStart[]>;
  pid(): number | undefined;
  stop(): Promise<void>;
}

export interface Env {
  /** admin connection URL (database postgres) */
  adminUrl: string;
  /** the benchmark database, reset before every system */
  url: string;
  redisPort?: number;
}

function exitOf(child: ChildProcess) {
  return new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
}

// ---------------------------------------------------------------------------- Sundial

export class Sundial implements System {
  id = 'sundial';
  name = 'Sundial';
  private child?: ChildProcess;
  private sql?: postgres.Sql;
  port = 0;
  constructor(
    private readonly env: Env,
    readonly settings = 'defaults (lookahead 2 s, batch 1,000, poll 500 ms)',
    private readonly tuning: Record<string, string> = {},
    /** the checkout whose built server runs (another build, to compare side by side) */
    readonly root = SUNDIAL_ROOT,
  ) {}

  /** extra node arguments for the Sundial process (e.g. --cpu-prof) */
  nodeArgs: string[] = [];

  async start() {
    this.port = await freePort();
    this.child = spawn(process.execPath, [...this.nodeArgs, 'bin/sundial.js', 'serve'], {
      cwd: this.root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        ...this.tuning,
        DATABASE_URL: this.env.url,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        SUNDIAL_NODE_ID: 'bench-1',
        LOG_LEVEL: 'error',
        // the API's per-client rate limit (3,000 a minute by default) would cap the register workload
        SUNDIAL_RATE_LIMIT_PER_MINUTE: '0',
      },
    });
    await waitFor(
      'Sundial /readyz',
      async () => {
        if (this.child?.exitCode !== null) throw new Error(`sundial exited with ${this.child?.exitCode}`);
        const r = await fetch(`http://127.0.0.1:${this.port}/readyz`);
        return r.ok;
      },
      60_000,
    );
    this.sql = postgres(this.env.url, { max: 4, onnotice: () => {} });
  }

  /** The node's V8 heap (used, total) and external memory in MB, from its /metrics. */
  async heap(): Promise<{ heapUsedMb: number; heapTotalMb: number; externalMb: number } | undefined> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
      const mb = (name: string) => Math.round(Number(text.match(new RegExp(`^sundial_process_nodejs_${name} (\\S+)`, 'm'))?.[1] ?? NaN) / 2 ** 20);
      return { heapUsedMb: mb('heap_size_used_bytes'), heapTotalMb: mb('heap_size_total_bytes'), externalMb: mb('external_memory_bytes') };
    } catch {
      return undefined;
    }
  }

  /** sundial_fire_lag_seconds buckets (cumulative counts by upper bound, in seconds as written) */
  async fireLagBuckets(): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^sundial_fire_lag_seconds_bucket\{le="([^"]+)"\} (\S+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  }

  /**
   * End to end: webhook tasks, each POSTing {i, due} to `url` (its own JSON body), stored
   * in the shape POST /api/tasks stores them; one statement per 20k rows.
   */
  async insertWebhooks(items: Item[], url: (it: Item) => string, extra: Record<string, unknown> = {}) {
    for (let k = 0; k < items.length; k += 20_000) {
      const chunk = items.slice(k, k + 20_000).map((it) => ({
        i: it.i,
        at: new Date(it.due).toISOString(),
        action: JSON.stringify({ type: 'webhook', url: url(it), body: { i: it.i, due: it.due }, ...extra }),
      }));
      await this.sql!`
        insert into tasks (name, kind, run_at, next_run_at, state, action)
        select 'bench-' || v.i, 'once', v.at, v.at, 'active', v.action::jsonb
        from json_to_recordset(${JSON.stringify(chunk)}::text::json) as v(i int, at timestamptz, action text)`;
    }
    await this.sql!`select pg_notify('sundial', '{"t":"wake"}')`;
  }

  /**
   * Keyed webhook tasks written straight into PostgreSQL, one statement for all of them, in
   * the rows the batch endpoint stores (the e2e import's `--import-via=sql` diagnostic: the
   * same rows without the node's share of the work). No wake-up: the claimer finds them.
   */
  async insertKeyedWebhooks(rows: { key: string; name: string; at: string; action: unknown }[]) {
    const chunk = rows.map((r) => ({ ...r, action: JSON.stringify(r.action) }));
    await this.sql!.begin(async (tx) => {
      // at the batch endpoint's nice (store/background.ts), so the comparison is like for like
      const [me] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
      setPriority(me!.pid, 10);
      await tx`
      insert into tasks (key, name, kind, run_at, next_run_at, state, action)
      select v.key, v.name, 'once', v.at, v.at, 'active', v.action::jsonb
      from json_to_recordset(${JSON.stringify(chunk)}::text::json) as v(key text, name text, at timestamptz, action text)`;
    });
  }

  /**
   * Set-up before T, not measured: one SQL statement per 20k rows, in the shape POST /api/tasks
   * stores. Registration through the batch endpoint is measured on its own (bench/bulk.ts, and the
   * e2e import workload).
   */
  async insertBulk(items: Item[]) {
    for (let k = 0; k < items.length; k += 20_000) {
      const chunk = items.slice(k, k + 20_000).map((it) => ({ i: it.i, at: new Date(it.due).toISOString() }));
      await this.sql!`
        insert into tasks (name, kind, run_at, next_run_at, state)
        select 'bench-' || v.i, 'once', v.at, v.at, 'active'
        from json_to_recordset(${JSON.stringify(chunk)}::text::json) as v(i int, at timestamptz)`;
    }
    await this.sql!`select pg_notify('sundial', '{"t":"wake"}')`;
  }

  async insertOne(item: Item) {
    const r = await fetch(`http://127.0.0.1:${this.port}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `reg-${item.i}`, schedule: { type: 'once', at: new Date(item.due).toISOString() } }),
    });
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /api/tasks: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  }

  async fired() {
    const [r] = await this.sql!`select count(*)::int as n from runs where started_at is not null`;
    return r!.n as number;
  }

  /** Sundial's recorded start times (first request sent) relative to T: p50, p99, max, ms */
  async startedSpread(T: number) {
    const [r] = await this.sql!`
      select percentile_cont(array[0.5, 0.99, 1]) within group (order by extract(epoch from started_at) * 1000 - ${T}) as q
      from runs where started_at is not null and trigger = 'schedule'`;
    const q = r?.q as number[] | null;
    return { startedAfterTMs: q ? q.map((v) => Math.round(Number(v))) : null };
  }

  /** runs of webhook tasks aimed at `url` that were recorded failed */
  async failedTo(url: string) {
    const [r] = await this.sql!`
      select count(*)::int as n from runs r join tasks t on t.id = r.task_id
      where r.status = 'failed' and t.action->>'url' = ${url}`;
    return r!.n as number;
  }

  /** all rows recorded (status final) — the end of the claim-and-record cycle */
  async recorded() {
    const [r] = await this.sql!`select count(*)::int as n from runs where status = 'succeeded'`;
    return r!.n as number;
  }

  async firstClaimAt(): Promise<number> {
    const [r] = await this.sql!`select extract(epoch from min(claimed_at)) * 1000 as t from runs`;
    return Number(r!.t);
  }

  /** How long before its scheduled instant each run was claimed (ms): min, median, max. */
  async claimAhead(): Promise<{ claimAheadMs: [number, number, number] | null }> {
    const [r] = await this.sql!`
      select percentile_cont(array[0, 0.5, 1]) within group (order by extract(epoch from scheduled_for - claimed_at) * 1000) as q
      from runs where claimed_at is not null and trigger = 'schedule'`;
    const q = r?.q as number[] | null;
    return { claimAheadMs: q ? (q.map((v) => Math.round(Number(v))) as [number, number, number]) : null };
  }

  /** The node's own counters (GET /metrics): claim and record batch sizes, fenced results. */
  async counters(): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const get = (name: string) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const claims = get('sundial_claim_batch_size_count');
    const records = get('sundial_record_batch_size_count');
    return {
      claimTransactions: claims,
      claimBatchMean: get('sundial_claim_batch_size_sum') / claims,
      recordStatements: records,
      recordBatchMean: get('sundial_record_batch_size_sum') / records,
      fenced: get('sundial_results_fenced_total'),
    };
  }

  async outcome(n: number): Promise<Outcome> {
    const rows = await this.sql!`
      select substr(t.name, 7)::int as i, extract(epoch from r.started_at - r.scheduled_for) * 1000 as lag
      from runs r join tasks t on t.id = r.task_id
      where r.started_at is not null and t.name like 'bench-%'`;
    const lags = new Float64Array(n).fill(NaN);
    let dups = 0;
    for (const r of rows) {
      const i = r.i as number;
      if (i < 0 || i >= n) continue;
      if (!Number.isNaN(lags[i]!)) dups++;
      else lags[i] = Number(r.lag);
    }
    return { lags, dups };
  }

  async addRecurring(n: number) {
    // first occurrence: the next 10-second boundary at least 5 s away, as POST /api/tasks computes it
    const first = Math.ceil((Date.now() + 5000) / 10_000) * 10_000;
    await this.sql!`
      insert into tasks (name, kind, cron_expression, next_run_at, state)
      select 'cron-' || g, 'cron', '*/10 * * * * *', ${new Date(first)}, 'active'
      from generate_series(0, ${n - 1}) g`;
  }

  async recurringStarts(): Promise<RecurringStart[]> {
    const rows = await this.sql!`
      select substr(t.name, 6)::int as i, extract(epoch from r.scheduled_for) * 1000 as due,
             extract(epoch from r.started_at) * 1000 as start
      from runs r join tasks t on t.id = r.task_id
      where r.started_at is not null and t.kind = 'cron'`;
    return rows.map((r) => ({ i: r.i as number, due: Number(r.due), start: Number(r.start) }));
  }

  pid() {
    return this.child?.pid;
  }

  async stop() {
    await this.sql?.end({ timeout: 2 });
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await Promise.race([exitOf(this.child), sleep(10_000)]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }
}

// ------------------------------------------------------------------------------ peers

type PeerId = 'graphile' | 'pgboss' | 'bullmq';

const PEER_NAMES: Record<PeerId, string> = { graphile: 'graphile-worker', pgboss: 'pg-boss', bullmq: 'BullMQ' };
const PEER_SETTINGS: Record<PeerId, [string, string]> = {
  graphile: ['defaults (concurrency 1, poll 2 s)', 'concurrency 50, poll 100 ms, local queue 500, batched completion'],
  pgboss: ['defaults (1 worker, batch 1, poll 2 s)', '10 workers, batch 100, poll 0.5 s (minimum)'],
  bullmq: ['defaults (concurrency 1)', 'concurrency 100'],
};

const QUEUE = 'bench';

export class Peer implements System {
  id: string;
  name: string;
  settings: string;
  private child?: ChildProcess;
  private replies: ((m: any) => void)[] = [];
  private client?: {
    bulk(items: Item[]): Promise<void>;
    one(item: Item): Promise<void>;
    recurring?(n: number): Promise<void>;
    close(): Promise<void>;
  };
  private n = 0;

  /** end to end: each job POSTs {i, due} to this URL */
  target?: string;

  constructor(
    private readonly env: Env,
    readonly peer: PeerId,
    readonly tuned: boolean,
    private readonly recurring = false,
  ) {
    this.id = `${peer}${tuned ? '-tuned' : ''}`;
    this.name = PEER_NAMES[peer];
    this.settings = PEER_SETTINGS[peer][tuned ? 1 : 0];
  }

  /** index capacity of the worker's bookkeeping; set before start() */
  capacity(n: number) {
    this.n = n;
    return this;
  }

  private ask(type: string): Promise<any> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child!.send({ type });
    });
  }

  async start() {
    this.child = fork(fileURLToPath(new URL('./peer-worker.mjs', import.meta.url)), [], {
      cwd: ROOT,
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: {
        ...process.env,
        BENCH_PEER: JSON.stringify({
          peer: this.peer,
          tuned: this.tuned,
          url: this.env.url,
          redisPort: this.env.redisPort,
          queue: QUEUE,
          n: this.n,
          recurring: this.recurring,
          target: this.target,
        }),
      },
    });
    const ready = new Promise<void>((resolve, reject) => {
      this.child!.on('message', (m: any) => {
        if (m.type === 'ready') resolve();
        else this.replies.shift()?.(m);
      });
      this.child!.once('exit', (code) => reject(new Error(`${this.id} worker exited with ${code}`)));
    });
    await ready;
    this.client = await this.makeClient();
  }

  private async makeClient() {
    if (this.peer === 'graphile') {
      const { makeWorkerUtils } = await import('graphile-worker');
      const utils = await makeWorkerUtils({ connectionString: this.env.url });
      return {
        bulk: async (items: Item[]) => {
          for (let k = 0; k < items.length; k += 5000) {
            await utils.addJobs(
              items.slice(k, k + 5000).map((it) => ({ identifier: 'bench', payload: { i: it.i, due: it.due }, runAt: new Date(it.due) })),
            );
          }
        },
        one: async (it: Item) => {
          await utils.addJob('bench', { i: it.i, due: it.due }, { runAt: new Date(it.due) });
        },
        close: async () => {
          await utils.release();
        },
      };
    }
    if (this.peer === 'pgboss') {
      const { default: PgBoss } = await import('pg-boss');
      const boss = new PgBoss({ connectionString: this.env.url, supervise: false, schedule: false, migrate: false });
      boss.on('error', () => {});
      await boss.start();
      return {
        bulk: async (items: Item[]) => {
          for (let k = 0; k < items.length; k += 5000) {
            await boss.insert(items.slice(k, k + 5000).map((it) => ({ name: QUEUE, data: { i: it.i, due: it.due }, startAfter: new Date(it.due) })));
          }
        },
        one: async (it: Item) => {
          await boss.send(QUEUE, { i: it.i, due: it.due }, { startAfter: new Date(it.due) });
        },
        close: () => boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {}),
      };
    }
    const { Queue } = await import('bullmq');
    const queue = new Queue(QUEUE, { connection: { host: '127.0.0.1', port: this.env.redisPort!, maxRetriesPerRequest: null } });
    await queue.waitUntilReady();
    return {
      bulk: async (items: Item[]) => {
        for (let k = 0; k < items.length; k += 1000) {
          const now = Date.now();
          await queue.addBulk(
            items.slice(k, k + 1000).map((it) => ({
              name: 'bench',
              data: { i: it.i, due: it.due },
              opts: { timestamp: now, delay: Math.max(0, it.due - now), removeOnComplete: { count: 1000 } },
            })),
          );
        }
      },
      one: async (it: Item) => {
        const now = Date.now();
        await queue.add('bench', { i: it.i, due: it.due }, { timestamp: now, delay: Math.max(0, it.due - now), removeOnComplete: { count: 1000 } });
      },
      recurring: async (n: number) => {
        for (let k = 0; k < n; k += 500) {
          await Promise.all(
            Array.from({ length: Math.min(500, n - k) }, (_, j) =>
              queue.upsertJobScheduler(`cron-${k + j}`, { pattern: '*/10 * * * * *' }, { name: 'bench', data: { i: k + j }, opts: { removeOnComplete: { count: 1000 } } }),
            ),
          );
        }
      },
      close: () => queue.close(),
    };
  }

  insertBulk(items: Item[]) {
    return this.client!.bulk(items);
  }

  insertOne(item: Item) {
    return this.client!.one(item);
  }

  async fired() {
    return ((await this.ask('count')) as { fired: number }).fired;
  }

  async outcome(n: number): Promise<Outcome> {
    const r = (await this.ask('report')) as { lags: (number | null)[]; dups: number };
    // NaN travels through IPC JSON as null
    const lags = new Float64Array(n).fill(NaN);
    r.lags.forEach((v, i) => {
      if (i < n && v !== null) lags[i] = v;
    });
    return { lags, dups: r.dups };
  }

  async addRecurring(n: number) {
    if (!this.client?.recurring) throw new Error(`${this.name} has no schedule with a seconds field`);
    await this.client.recurring(n);
  }

  async recurringStarts(): Promise<RecurringStart[]> {
    const r = (await this.ask('report')) as { recurring: [number, number, number][] };
    return r.recurring.map(([i, due, start]) => ({ i, due, start }));
  }

  pid() {
    return this.child?.pid;
  }

  async stop() {
    await this.client?.close().catch(() => {});
    if (this.child && this.child.exitCode === null) {
      const exited = exitOf(this.child);
      this.child.send({ type: 'stop' });
      await Promise.race([exited, sleep(8000)]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }
}

export { procUsage };
