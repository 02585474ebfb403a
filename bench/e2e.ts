// End-to-end mode of the benchmark (`npm run bench:e2e`, or `npm run bench -- --e2e`).
//
// Every system's execution is an HTTP POST of {"i", "due"} to a receiver running in a
// process of its own (bench/receiver.mjs), which takes its clock when the request has
// arrived: lag = arrival − due, the same measurement for everyone. Sundial runs webhook
// tasks (its own JSON body); the peers' handlers POST the same body through Node's
// fetch (undici, keep-alive) and await the answer.
//
// Workloads (--e2e-only=burst,hung,steady):
//   burst   N due at one instant, each system in turn (--repeat=k rounds, interleaved)
//   hung    Sundial only: pairs of (burst) and (burst + H tasks aimed at a receiver that
//           accepts and never answers), interleaved, --pairs=p (default 5)
//   steady  R a second for S seconds
//   import  Sundial only: pairs of (steady) and (steady while --import-n tasks, default
//           1,000,000, are loaded through the batch API, webhooks due spread over the next
//           hour), interleaved, --import-pairs=p (default 2). Reports the steady stream's
//           p99 beside the run without the import, the imported tasks that fell due in the
//           window (while loading and after), and the node's peak RSS; then --import-tail=s
//           seconds (default 60) with only imported tasks due: their p99 and the RSS (all
//           of it, and its second half).
//           --import-client-nice=n runs the importing client's thread at nice n (a
//           diagnostic: what its CPU on the same two cores costs the stream),
//           --import-rate=n paces the client to n tasks a second, and --import-via=sql
//           writes the same keyed rows straight into PostgreSQL (its backends at nice 10,
//           as the node's): diagnostics of what the database's write rate costs the stream
// Options: --systems=sundial,graphile-tuned,pgboss-tuned,bullmq-tuned, --cpu-prof
// (Sundial's node process writes a V8 CPU profile to bench/results/profiles/),
// --heap-snapshot (a heap snapshot there just before T; writing it stalls that run),
// --sundial-node-args=a,b (more node arguments for Sundial's process, e.g. V8 flags).
// `sundial@/path/to/checkout` runs another checkout's build (its dist/ built) as one
// more system, so two builds alternate in one run (--repeat=k); --out=file writes the
// results there instead of bench/results/e2e.json (and leaves the docs page alone).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lagStats, procUsage, sleep, type LagStats } from './lib.js';
import { Peer, Sundial, type Env, type Item, type System } from './systems.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const E2E_RESULTS = join(ROOT, 'bench', 'results', 'e2e.json');

export interface E2EContext {
  env: Env;
  reset(): Promise<void>;
  usageMeter(sys: System): () => { cpuS: number; pgCpuS: number; redisCpuS: number; peakRssMb: number };
  log(...a: unknown[]): void;
  args: string[];
  machine: Record<string, unknown>;
}

export interface E2ERow {
  id: string;
  name: string;
  settings: string;
  n: number;
  received: number;
  dups: number;
  missing: number;
  lag: LagStats | null;
  cpuS: number;
  pgCpuS: number;
  redisCpuS: number;
  peakRssMb: number;
  loadAvg: number;
  /** healthy runs recorded failed (Sundial: from its run log) */
  failed?: number;
  hung?: number;
  /** Sundial's own view: claim lead, batch sizes, and its recorded start times (startedAt − T) */
  engine?: Record<string, unknown>;
  round: number;
  sysCpuFromTS?: number;
  receiverCpuFromTS?: number;
  rssBeforeTMb?: number;
}

export interface E2EResults {
  date: string;
  command: string;
  machine: Record<string, unknown>;
  params: Record<string, number>;
  engine: string;
  /** per workload: the engine commit it ran on, and the command that measured it */
  engines?: Record<string, string>;
  commands?: Record<string, string>;
  burst?: E2ERow[];
  hung?: { pairs: { without: E2ERow; with: E2ERow }[] };
  steady?: E2ERow[];
  import?: { pairs: { without: ImportRow; with: ImportRow }[] };
  profile?: string;
}

/** One steady run, with or without a bulk import through the batch API beside it. */
export interface ImportRow {
  steady: { n: number; received: number; dups: number; lag: LagStats | null; p99BySlice?: number[] };
  /** deliveries due in the stream's window later than 10 and 25 ms: left the node late (its fire-lag histogram), arrived late (the receiver) */
  lateShare?: Record<'over10ms' | 'over25ms', { node: number; receiver: number }>;
  imported?: {
    n: number;
    loadS: number;
    /** imported tasks due inside the window, fired while the import was still loading */
    whileLoading: { due: number; received: number; lag: LagStats | null };
    /** and those due after it had finished */
    after: { due: number; received: number; lag: LagStats | null };
    dups: number;
    /** the node's highest VmRSS from 2 s after the import finished to the window's end */
    rssAfterMb: number;
    /**
     * the --import-tail seconds after the steady stream ended: only imported tasks fire
     * (the target's "those million tasks fire with the steady p99, node RSS < 300 MB")
     */
    tail?: { seconds: number; due: number; received: number; lag: LagStats | null; rssMaxMb: number; rssSettledMb?: number };
  };
  peakRssMb: number;
  /** the highest heap used and heap total seen (sampled each second) */
  heapPeakMb: { usedMb: number; totalMb: number };
  /** garbage collections over the whole run, by kind: how many, and their total pause */
  gc?: Record<string, { count: number; sumMs: number }>;
  cpuS: number;
  pgCpuS: number;
  loadAvg: number;
}

class Receiver {
  private child?: ChildProcess;
  private replies: ((m: any) => void)[] = [];
  okUrl = '';
  hungUrl = '';
  async start() {
    this.child = fork(fileURLToPath(new URL('./receiver.mjs', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, BENCH_RECEIVER: '{}' } });
    await new Promise<void>((resolve, reject) => {
      this.child!.on('message', (m: any) => {
        if (m.type === 'ready') {
          this.okUrl = `http://127.0.0.1:${m.okPort}/hook`;
          this.hungUrl = `http://127.0.0.1:${m.hungPort}/hook`;
          resolve();
        } else this.replies.shift()?.(m);
      });
      this.child!.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    });
  }
  private ask(msg: Record<string, unknown>): Promise<any> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child!.send(msg);
    });
  }
  reset(n: number) {
    return this.ask({ type: 'reset', n });
  }
  count(): Promise<{ received: number; dups: number; hung: number }> {
    return this.ask({ type: 'count' });
  }
  report(): Promise<{ lags: (number | null)[]; dups: number; hung: number; maxConcurrent: number; loop?: { p99Ms: number; maxMs: number } }> {
    return this.ask({ type: 'report' });
  }
  stop() {
    this.child?.send({ type: 'stop' });
  }
  pid() {
    return this.child?.pid;
  }
}

export async function runE2E(ctx: E2EContext): Promise<void> {
  const { env, log, args } = ctx;
  const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const only = arg('e2e-only')?.split(',') ?? ['burst', 'hung', 'steady', 'import'];
  const systems = arg('systems')?.split(',') ?? ['sundial', 'graphile-tuned', 'pgboss-tuned', 'bullmq-tuned'];
  const repeat = Math.max(1, Number(arg('repeat') ?? 1));
  const pairs = Math.max(1, Number(arg('pairs') ?? 5));
  const profile = args.includes('--cpu-prof');
  // a heap snapshot of Sundial's node just before T (what holding the burst costs); the write stalls that run
  const heapSnapshot = args.includes('--heap-snapshot');
  const sundialNodeArgs = arg('sundial-node-args')?.split(',').filter(Boolean);
  const P = {
    burstN: Number(arg('n') ?? 20_000),
    hungN: Number(arg('hung-n') ?? 1000),
    steadyRate: Number(arg('rate') ?? 1000),
    steadySec: Number(arg('seconds') ?? 60),
    importN: Number(arg('import-n') ?? 1_000_000),
    importPairs: Math.max(1, Number(arg('import-pairs') ?? 2)),
    importTailSec: Math.max(0, Number(arg('import-tail') ?? 60)),
    /** the nice value the importing client runs at (a diagnostic: how much its CPU costs the stream) */
    importClientNice: Number(arg('import-client-nice') ?? 0),
    /** the imported rows go straight into PostgreSQL, past the node (a diagnostic: the database's share) */
    importViaSql: args.includes('--import-via=sql'),
    /** the importing client's pace, tasks a second (0: as fast as the node answers) */
    importRate: Number(arg('import-rate') ?? 0),
    capMs: 30_000,
    leadMs: 12_000,
  };
  const rx = new Receiver();
  await rx.start();
  log(`receiver: ${rx.okUrl} (answers 204), ${rx.hungUrl} (never answers)`);

  const profileDir = join(ROOT, 'bench', 'results', 'profiles');
  const makeSystem = (id: string): System => {
    if (id === 'sundial' || id.startsWith('sundial@')) {
      const root = id.startsWith('sundial@') ? id.slice('sundial@'.length) : undefined;
      const s = new Sundial(
        env,
        `defaults (webhook slots 256 per node, 64 per origin), SUNDIAL_WEBHOOK_ALLOW=127.0.0.1/32${root ? `, build of ${root}` : ''}`,
        { SUNDIAL_WEBHOOK_ALLOW: '127.0.0.1/32' },
        root,
      );
      if (profile) {
        mkdirSync(profileDir, { recursive: true });
        s.nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
      }
      if (heapSnapshot) {
        mkdirSync(profileDir, { recursive: true });
        s.nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${profileDir}`);
      }
      if (sundialNodeArgs) s.nodeArgs.push(...sundialNodeArgs);
      return s;
    }
    const [peer, tuned] = id.split('-') as ['graphile' | 'pgboss' | 'bullmq', string | undefined];
    if (peer === 'bullmq' && !env.redisPort) throw new Error('BullMQ needs redis-server');
    return new Peer(env, peer, tuned === 'tuned');
  };

  const command = `npm run bench:e2e${args.length ? ` -- ${args.filter((a) => a !== '--e2e').join(' ')}` : ''}`;
  const out = arg('out');
  const file = out ?? E2E_RESULTS;
  const prev = !out && existsSync(E2E_RESULTS) ? (JSON.parse(readFileSync(E2E_RESULTS, 'utf8')) as E2EResults) : undefined;
  const kept = prev ? pick(prev, only) : {};
  const keptWorkloads = (['burst', 'hung', 'steady', 'import'] as const).filter((w) => kept[w]);
  const results: E2EResults = {
    date: prev && Object.values(kept).some(Boolean) ? prev.date : new Date().toISOString(),
    // workloads kept from an earlier invocation say so: the command of each kept one is
    // listed before this one (once, however often the others were measured again since)
    command: [...new Set([...keptWorkloads.map((w) => prev?.commands?.[w] ?? prev?.command ?? command), command])].join('; then '),
    commands: Object.fromEntries([...keptWorkloads.map((w) => [w, prev?.commands?.[w] ?? prev?.command ?? command]), ...only.map((w) => [w, command])]),
    machine: ctx.machine,
    params: P,
    engine: '',
    ...kept,
    // the engine each workload ran on: a workload kept from an earlier invocation keeps its own
    engines: Object.fromEntries(
      ['burst', 'hung', 'steady', 'import'].flatMap((w) =>
        only.includes(w) ? [[w, String(ctx.machine.engine ?? '?')]] : keptWorkloads.includes(w as never) ? [[w, prev?.engines?.[w] ?? String(prev?.machine?.engine ?? '?')]] : [],
      ),
    ),
  };

  /** One measured run: N healthy tasks due at T (+ `hungN` aimed at the hung receiver), or a steady stream. */
  async function measure(id: string, round: number, shape: { n: number; hungN?: number; rate?: number }): Promise<E2ERow> {
    const sys = makeSystem(id);
    if (sys instanceof Peer) {
      sys.capacity(shape.n);
      sys.target = rx.okUrl;
    }
    await ctx.reset();
    await rx.reset(shape.n);
    await sys.start();
    const loadAvg = Math.round(loadavg()[0]! * 100) / 100;
    const read = ctx.usageMeter(sys);
    const T = Date.now() + P.leadMs;
    const dueOf = (i: number) => (shape.rate ? T + Math.floor((i * 1000) / shape.rate) : T);
    const items: Item[] = Array.from({ length: shape.n }, (_, i) => ({ i, due: dueOf(i) }));
    const hungItems: Item[] = Array.from({ length: shape.hungN ?? 0 }, (_, k) => ({ i: shape.n + k, due: T }));
    if (sys instanceof Sundial) {
      await sys.insertWebhooks([...items, ...hungItems], (it) => (it.i < shape.n ? rx.okUrl : rx.hungUrl));
    } else {
      await sys.insertBulk(items);
    }
    if (Date.now() > T - 1000) log(`  ${id}: inserting overran the lead time`);
    const end = items[items.length - 1]!.due + P.capMs;
    let c = { received: 0, dups: 0, hung: 0 };
    // resident memory just before T: what holding the claimed occurrences costs
    await sleep(Math.max(0, T - 300 - Date.now()));
    const rssBeforeTMb = Math.round(procUsage(sys.pid()!)?.rssMb ?? 0);
    const heapBeforeT = sys instanceof Sundial ? await sys.heap() : undefined;
    if (heapSnapshot && sys instanceof Sundial) process.kill(sys.pid()!, 'SIGUSR2');
    // CPU seconds from T to the end, of the system's process and of the receiver
    await sleep(Math.max(0, T - Date.now()));
    const cpuAt = () => ({ sys: procUsage(sys.pid()!)?.cpu ?? 0, rx: procUsage(rx.pid()!)?.cpu ?? 0 });
    const cpu0 = cpuAt();
    while (Date.now() < end) {
      await sleep(200);
      c = await rx.count();
      if (c.received >= shape.n) break;
    }
    const cpu1 = cpuAt();
    const usage = read();
    const rep = await rx.report();
    const window = { rssBeforeTMb, sysCpuFromTS: Math.round((cpu1.sys - cpu0.sys) * 100) / 100, receiverCpuFromTS: Math.round((cpu1.rx - cpu0.rx) * 100) / 100 };
    const lags = rep.lags.map((v) => (v === null ? NaN : v));
    const st = lagStats(lags);
    let failed: number | undefined;
    let engine: Record<string, unknown> | undefined;
    if (sys instanceof Sundial) {
      // the healthy runs' results, once recorded: none may have failed
      await sleep(500);
      failed = await sys.failedTo(rx.okUrl);
      engine = { ...(await sys.claimAhead()), ...(await sys.counters()), ...(await sys.startedSpread(T)), heapBeforeT, heapAfter: await sys.heap() };
      log(`  sundial engine: ${JSON.stringify(engine)}`);
    }
    await sys.stop();
    const row: E2ERow = {
      id: sys.id === 'sundial' && !id.startsWith('sundial@') ? 'sundial' : id,
      name: sys.name,
      settings: sys.settings,
      n: shape.n,
      received: st?.n ?? 0,
      dups: rep.dups,
      missing: shape.n - (st?.n ?? 0),
      lag: st,
      ...usage,
      loadAvg,
      ...(failed !== undefined ? { failed } : {}),
      ...(shape.hungN ? { hung: rep.hung } : {}),
      ...(engine ? { engine } : {}),
      ...window,
      round,
    };
    const f = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(0));
    log(
      `  ${id}${shape.hungN ? ` +${shape.hungN} hung` : ''}: received ${row.received}/${shape.n} dups ${row.dups} p50 ${f(st?.p50)} p99 ${f(st?.p99)} max ${f(st?.max)} ms` +
        `${failed !== undefined ? ` failed ${failed}` : ''} rss before T ${rssBeforeTMb} MB, cpu after T ${window.sysCpuFromTS} s receiver ${window.receiverCpuFromTS} s; cpu ${usage.cpuS.toFixed(1)} s pg ${usage.pgCpuS.toFixed(1)} s rss ${usage.peakRssMb.toFixed(0)} MB load ${loadAvg}`,
    );
    return row;
  }

  /**
   * A steady stream of webhooks (inserted ahead, as in `steady`), and with `load` a bulk
   * import beside it: P.importN webhook tasks with keys, through POST /api/tasks/batch
   * (1,000 a request, Prefer: return=minimal, 4 in flight), starting 5 s into the
   * stream, due spread evenly over the hour after the import starts. The receiver tells
   * the two apart by index.
   */
  async function measureImport(load: boolean, id = 'sundial'): Promise<ImportRow> {
    const sys = makeSystem(id) as Sundial;
    const steadyN = P.steadyRate * P.steadySec;
    const importN = load ? P.importN : 0;
    await ctx.reset();
    await rx.reset(steadyN + importN);
    await sys.start();
    const loadAvg = Math.round(loadavg()[0]! * 100) / 100;
    const read = ctx.usageMeter(sys);
    const T = Date.now() + P.leadMs;
    const items: Item[] = Array.from({ length: steadyN }, (_, i) => ({ i, due: T + Math.floor((i * 1000) / P.steadyRate) }));
    await sys.insertWebhooks(items, () => rx.okUrl);
    const end = T + P.steadySec * 1000;
    let imported: { from: number; dueOf: (k: number) => number; loadS: number; doneAt: number } | undefined;
    let importing: Promise<void> | undefined;
    if (load) {
      const from = T + 5000;
      const dueOf = (k: number) => from + 10_000 + Math.floor((k * 3_600_000) / importN);
      importing = (async () => {
        await sleep(Math.max(0, from - Date.now()));
        // this thread only (Linux): the node and the receiver were started before
        if (P.importClientNice) setPriority(0, P.importClientNice);
        const t0 = Date.now();
        const url = `http://127.0.0.1:${sys.port}/api/tasks/batch`;
        let next = 0;
        const worker = async () => {
          for (;;) {
            const k0 = next;
            next += 1000;
            if (k0 >= importN) return;
            // --import-rate: batches leave at that many tasks a second at most
            if (P.importRate) await sleep(Math.max(0, t0 + (k0 * 1000) / P.importRate - Date.now()));
            const tasks = [];
            for (let k = k0; k < Math.min(importN, k0 + 1000); k++) {
              const due = dueOf(k);
              tasks.push({ key: `import/${k}`, name: `imported ${k}`, schedule: { type: 'once', at: new Date(due).toISOString() }, action: { type: 'webhook', url: rx.okUrl, body: { i: steadyN + k, due } } });
            }
            if (P.importViaSql) {
              await (sys as Sundial).insertKeyedWebhooks(tasks.map((t) => ({ key: t.key, name: t.name, at: t.schedule.at, action: t.action })));
              continue;
            }
            const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body: JSON.stringify({ tasks }) });
            if (r.status !== 201) throw new Error(`batch ${k0}: ${r.status} ${(await r.text()).slice(0, 300)}`);
            await r.arrayBuffer();
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        imported = { from, dueOf, loadS: (Date.now() - t0) / 1000, doneAt: Date.now() };
        if (P.importClientNice) setPriority(0, 0);
      })();
    }
    // the node's heap through the window (its /metrics), to tell live data from garbage
    const heap = { usedMb: 0, totalMb: 0 };
    // and its resident memory (VmRSS) each second, to read it after the import is done
    const rssAt: [number, number][] = [];
    const heapTimer = setInterval(() => {
      rssAt.push([Date.now(), procUsage(sys.pid()!)?.rssMb ?? 0]);
      void sys.heap().then((h) => {
        if (!h) return;
        heap.usedMb = Math.max(heap.usedMb, h.heapUsedMb);
        heap.totalMb = Math.max(heap.totalMb, h.heapTotalMb);
      });
    }, 1000);
    // the node's own fire lag (taken when each request goes out) over the stream's window,
    // beside the receiver's: does a late delivery leave the node late, or arrive late?
    const fireLag = (async () => {
      await sleep(Math.max(0, T - Date.now()));
      const a = await sys.fireLagBuckets();
      await sleep(Math.max(0, end + 3000 - Date.now()));
      const b = await sys.fireLagBuckets();
      return Object.fromEntries(Object.keys(b).map((le) => [le, b[le]! - (a[le] ?? 0)]));
    })().catch(() => undefined);
    // with the import, the window goes on --import-tail seconds with only imported tasks due
    const tailMs = load ? P.importTailSec * 1000 : 0;
    await sleep(Math.max(0, end + tailMs + 3000 - Date.now()));
    if (importing) await importing;
    clearInterval(heapTimer);
    // what fell due by the end of the window has had 3 s to arrive
    const until = Math.min(end, Date.now() - 3000);
    const usage = read();
    const rep = await rx.report();
    // garbage collection over the run, by kind (prom-client's default metrics): pauses the timer waited out
    const gc = await fetch(`http://127.0.0.1:${sys.port}/metrics`)
      .then((r) => r.text())
      .then((t) => {
        const out: Record<string, { count: number; sumMs: number }> = {};
        for (const m of t.matchAll(/^sundial_process_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)/gm)) {
          const k = (out[m[2]!] ??= { count: 0, sumMs: 0 });
          if (m[1] === 'sum') k.sumMs = Math.round(Number(m[3]) * 1000);
          else k.count = Number(m[3]);
        }
        return out;
      })
      .catch(() => ({}));
    await sys.stop();
    const lags = rep.lags.map((v) => (v === null ? NaN : v));
    const steadyLags = lags.slice(0, steadyN);
    const st = lagStats(steadyLags);
    // the stream's p99 by 10-s slice of its due times: where in the window the late ones were
    const sliceN = P.steadyRate * 10;
    const p99BySlice = Array.from({ length: Math.ceil(steadyN / sliceN) }, (_, k) => lagStats(steadyLags.slice(k * sliceN, (k + 1) * sliceN))?.p99 ?? NaN);
    // share of the window's deliveries later than 10 and 25 ms: at the node, at the receiver
    const nodeLag = await fireLag;
    const windowLags = lags.filter((v, k) => Number.isFinite(v) && (k < steadyN || (imported && imported.dueOf(k - steadyN) <= end)));
    const over = (ms: number) => ({
      node: nodeLag ? 1 - (nodeLag[String(ms / 1000)] ?? 0) / (nodeLag['+Inf'] || 1) : NaN,
      receiver: windowLags.filter((v) => v > ms).length / (windowLags.length || 1),
    });
    const lateShare = { over10ms: over(10), over25ms: over(25) };
    const row: ImportRow = {
      steady: { n: steadyN, received: st?.n ?? 0, dups: rep.dups, lag: st, p99BySlice },
      lateShare,
      peakRssMb: usage.peakRssMb,
      heapPeakMb: heap,
      gc,
      cpuS: usage.cpuS,
      pgCpuS: usage.pgCpuS,
      loadAvg,
    };
    if (imported) {
      const part = (pick: (due: number) => boolean, upTo = until) => {
        const v: number[] = [];
        let due = 0;
        for (let k = 0; k < importN; k++) {
          const d = imported!.dueOf(k);
          if (d > upTo) break;
          if (!pick(d)) continue;
          due++;
          v.push(lags[steadyN + k]!);
        }
        const l = lagStats(v);
        return { due, received: l?.n ?? 0, lag: l };
      };
      row.imported = {
        n: importN,
        loadS: imported.loadS,
        whileLoading: part((d) => d <= imported!.doneAt),
        after: part((d) => d > imported!.doneAt),
        dups: rep.dups,
        rssAfterMb: Math.max(0, ...rssAt.filter(([at]) => at > imported!.doneAt + 2000 && at <= end).map(([, mb]) => mb)),
      };
      if (tailMs) {
        const tailUntil = Math.min(end + tailMs, Date.now() - 3000);
        row.imported.tail = {
          seconds: P.importTailSec,
          ...part((d) => d > end, tailUntil),
          rssMaxMb: Math.max(0, ...rssAt.filter(([at]) => at > end + 1000 && at <= end + tailMs).map(([, mb]) => mb)),
          // its second half: past what the stream and the import left behind
          rssSettledMb: Math.max(0, ...rssAt.filter(([at]) => at > end + tailMs / 2 && at <= end + tailMs).map(([, mb]) => mb)),
        };
      }
    }
    const f = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(0));
    const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(2)} %` : '–');
    const im = row.imported;
    log(
      `  steady${load ? ` + import of ${importN}` : ''}: steady received ${row.steady.received}/${steadyN} p50 ${f(st?.p50)} p99 ${f(st?.p99)} max ${f(st?.max)} ms (p99 by 10 s: ${p99BySlice.map((v) => f(v)).join(' ')})` +
        (im ? `; imported in ${im.loadS.toFixed(1)} s; imported due in the window: while loading ${im.whileLoading.received}/${im.whileLoading.due} p99 ${f(im.whileLoading.lag?.p99)} ms, after ${im.after.received}/${im.after.due} p99 ${f(im.after.lag?.p99)} max ${f(im.after.lag?.max)} ms, rss after ≤ ${im.rssAfterMb.toFixed(0)} MB` +
            (im.tail ? `; then ${im.tail.seconds} s of imported only: ${im.tail.received}/${im.tail.due} p99 ${f(im.tail.lag?.p99)} max ${f(im.tail.lag?.max)} ms, rss ≤ ${im.tail.rssMaxMb.toFixed(0)} MB (≤ ${im.tail.rssSettledMb?.toFixed(0)} MB in its second half)` : '')
          : '') +
        `; later than 10 / 25 ms: at the node ${pct(lateShare.over10ms.node)} / ${pct(lateShare.over25ms.node)}, at the receiver ${pct(lateShare.over10ms.receiver)} / ${pct(lateShare.over25ms.receiver)}` +
        (rep.loop ? ` (the receiver's event loop: p99 ${rep.loop.p99Ms.toFixed(1)} ms, max ${rep.loop.maxMs.toFixed(0)} ms)` : '') +
        `; dups ${rep.dups}; peak rss ${row.peakRssMb.toFixed(0)} MB (heap used ≤ ${heap.usedMb} MB of ≤ ${heap.totalMb} MB), gc ${Object.entries(gc).map(([k, v]) => `${k} ${v.count}× ${v.sumMs} ms`).join(', ')}, cpu ${row.cpuS.toFixed(1)} s pg ${row.pgCpuS.toFixed(1)} s, load ${loadAvg}`,
    );
    return row;
  }

  try {
    if (only.includes('burst')) {
      log(`burst: ${P.burstN} webhooks due at one instant, ${repeat} round(s)`);
      const rows: E2ERow[] = [];
      for (let r = 0; r < repeat; r++) for (const id of systems) rows.push(await measure(id, r, { n: P.burstN }).catch((err) => errorRow(id, r, err, log)));
      results.burst = rows;
    }
    if (only.includes('hung') && systems.includes('sundial')) {
      log(`hung: ${pairs} interleaved pairs of ${P.burstN} healthy, without and with ${P.hungN} aimed at a receiver that never answers`);
      const out: { without: E2ERow; with: E2ERow }[] = [];
      for (let r = 0; r < pairs; r++) {
        const without = await measure('sundial', r, { n: P.burstN });
        const withHung = await measure('sundial', r, { n: P.burstN, hungN: P.hungN });
        out.push({ without, with: withHung });
      }
      results.hung = { pairs: out };
    }
    if (only.includes('steady')) {
      log(`steady: ${P.steadyRate}/s for ${P.steadySec} s`);
      const rows: E2ERow[] = [];
      for (const id of systems) rows.push(await measure(id, 0, { n: P.steadyRate * P.steadySec, rate: P.steadyRate }).catch((err) => errorRow(id, 0, err, log)));
      results.steady = rows;
    }
    // every Sundial build listed (sundial, sundial@/other/checkout) in turn, pair by pair
    const builds = systems.filter((id) => id === 'sundial' || id.startsWith('sundial@'));
    if (only.includes('import') && builds.length) {
      log(`import: ${P.importPairs} interleaved pairs of a steady ${P.steadyRate}/s for ${P.steadySec} s, without and with ${P.importN} tasks loaded through the batch API beside it${builds.length > 1 ? `; builds ${builds.join(', ')} in turn` : ''}`);
      const out: { without: ImportRow; with: ImportRow; system?: string }[] = [];
      for (let r = 0; r < P.importPairs; r++) {
        for (const id of builds) {
          const without = await measureImport(false, id);
          const withImport = await measureImport(true, id);
          out.push({ without, with: withImport, ...(builds.length > 1 ? { system: id } : {}) });
          if (builds.length > 1) log(`  ${id}: stream p99 ${without.steady.lag?.p99} / ${withImport.steady.lag?.p99} ms = ${((withImport.steady.lag?.p99 ?? NaN) / (without.steady.lag?.p99 ?? NaN)).toFixed(2)}x`);
        }
      }
      results.import = { pairs: out };
    }
  } finally {
    rx.stop();
  }
  if (profile) results.profile = profileDir;
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(file, JSON.stringify(results, null, 1));
  if (results.burst && repeat > 1) logMedians(results.burst, log);
  log(`results: ${file}`);
}

/** Per system over the rounds: median receiver-observed max and p99, CPU seconds after T, peak RSS. */
function logMedians(rows: E2ERow[], log: (...a: unknown[]) => void) {
  const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
  };
  for (const id of [...new Set(rows.map((r) => r.id))]) {
    const mine = rows.filter((r) => r.id === id && r.lag);
    const m = (f: (r: E2ERow) => number) => median(mine.map(f)).toFixed(2);
    log(
      `  median of ${mine.length} ${id}: max ${m((r) => r.lag!.max)} ms p50 ${m((r) => r.lag!.p50)} p99 ${m((r) => r.lag!.p99)} ms, cpu after T ${m((r) => r.sysCpuFromTS ?? 0)} s, cpu ${m((r) => r.cpuS)} s, peak rss ${m((r) => r.peakRssMb)} MB, rss before T ${m((r) => r.rssBeforeTMb ?? 0)} MB`,
    );
  }
}

/** Keeps the workloads of an earlier run that this run does not measure again. */
function pick(prev: E2EResults, only: string[]): Partial<E2EResults> {
  return {
    ...(only.includes('burst') ? {} : { burst: prev.burst }),
    ...(only.includes('hung') ? {} : { hung: prev.hung }),
    ...(only.includes('steady') ? {} : { steady: prev.steady }),
    ...(only.includes('import') ? {} : { import: prev.import }),
  };
}

function errorRow(id: string, round: number, err: unknown, log: (...a: unknown[]) => void): E2ERow {
  log(`  ${id}: failed: ${(err as Error).message}`);
  return { id, name: id, settings: `error: ${(err as Error).message}`, n: 0, received: 0, dups: 0, missing: 0, lag: null, cpuS: 0, pgCpuS: 0, redisCpuS: 0, peakRssMb: 0, loadAvg: 0, round };
}
