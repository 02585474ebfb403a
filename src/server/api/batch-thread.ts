import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ApiError, type ErrorCode } from '../errors.js';
import { BULK_NICE } from '../store/background.js';
import type { BatchAnswer, BatchJob } from './batch.js';

/** An ApiError as data, and back (errors cross threads as plain objects). */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}
export const errorData = (e: ApiError): ErrorData => ({ code: e.code, message: e.message, details: e.details });
export const errorOf = (d: ErrorData) => new ApiError(d.code, d.message, d.details);

/** What the batch thread is started with. */
export interface ThreadSettings {
  databaseUrl: string;
  /** its PostgreSQL pool: the batch transactions that may run at once */
  connections: number;
  applicationName: string;
  idleInTransactionTimeoutMs?: number;
  lookaheadMs: number;
  /** the SSRF allow-list as configured (SUNDIAL_WEBHOOK_ALLOW) */
  webhookAllow?: string;
}

export type ToThread =
  | { type: 'job'; id: number; job: BatchJob; askCount: boolean }
  | { type: 'admit'; id: number; ok: boolean }
  | { type: 'stop' };

export type FromThread =
  | { type: 'count'; id: number; tasks: number }
  | { type: 'done'; id: number; answer: BatchAnswer }
  | { type: 'refused'; id: number }
  | { type: 'rejected'; id: number; error: ErrorData }
  | { type: 'failed'; id: number; error: { message: string; code?: string; errno?: string; severity?: string }; claimedBeforeFailure: boolean }
  | { type: 'stopped' };

/** A batch the database (or a dying thread) failed: `claimedBeforeFailure` says its COMMIT may hold claims for this node. */
export class BatchDatabaseError extends Error {
  code?: string;
  errno?: string;
  severity?: string;
  constructor(
    e: { message: string; code?: string; errno?: string; severity?: string },
    readonly claimedBeforeFailure: boolean,
  ) {
    super(e.message);
    Object.assign(this, { code: e.code, errno: e.errno, severity: e.severity });
  }
}

interface Pending {
  /** the thread running it */
  worker: Worker;
  admit?: (tasks: number) => void;
  refusal?: unknown;
  resolve: (a: BatchAnswer) => void;
  reject: (err: unknown) => void;
}

/** An idle batch thread ends after this long and gives its heap back (the next batch starts a new one). */
export const BATCH_THREAD_IDLE_MS = 5_000;

const SELF = fileURLToPath(import.meta.url);
const FROM_SOURCE = SELF.endsWith('.ts');

/**
 * The worker's first lines: its own nice value, then the postgres.js fix that
 * bin/sundial.js registers for the main thread (module hooks registered there do not
 * reach a worker in Node 20), and, when the node runs from its TypeScript source (the
 * tests), tsx. The nice value comes first: loading and starting the thread (its modules,
 * their schemas, its connections) cost ~0.5 s of CPU at the first batch of an import,
 * beside a firing timer. On Linux a thread id given to setpriority names that thread
 * alone; elsewhere, or not allowed, the thread keeps the node's priority.
 */
function bootstrap(): string {
  const worker = new URL(`./batch-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url).href;
  const fix = new URL('../../../bin/postgres-js-fix.mjs', import.meta.url).href;
  return `(async () => {
    try {
      const { readlinkSync } = await import('node:fs');
      const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
      if (Number.isInteger(tid) && tid > 0) (await import('node:os')).setPriority(tid, ${BULK_NICE});
    } catch {}
    const { register } = await import('node:module');
    register(${JSON.stringify(fix)});
    ${FROM_SOURCE ? "(await import('tsx/esm/api')).register();" : ''}
    await import(${JSON.stringify(worker)});
  })();`;
}

/**
 * POST /api/tasks/batch runs in a thread of its own (api/batch.ts, batch-worker.ts).
 * A million-task import parses, validates and builds ~30 ms of work per 1,000 tasks,
 * and its objects outlive a PostgreSQL round trip: on the node's event loop that was
 * 614 young-generation collections of 7–30 ms in a minute where the steady stream
 * alone has 129, and every webhook due meanwhile waited them out (the stream's p99
 * went from 8 ms to 40–75 ms). In its own thread the import's garbage is its own, and
 * the thread runs at a lower CPU priority (its PostgreSQL backends too), so the timer
 * that fires what is due gets a core when it asks.
 *
 * The thread starts with the first batch and ends when it has had none for
 * BATCH_THREAD_IDLE_MS: only the end of the thread gives its heap back (after an import
 * the node's RSS fell from 343 to 260 MB as the thread ended, sampled each 2 s). If it dies, the batches it held fail (500) and the next one
 * starts a new thread.
 */
export class BatchThread {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopping?: Promise<void>;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly settings: ThreadSettings,
    private readonly log: Logger,
    private readonly idleMs = BATCH_THREAD_IDLE_MS,
  ) {}

  /** true while a thread is running */
  get started(): boolean {
    return !!this.worker;
  }

  /** batches sent to the thread and not yet answered */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Runs one batch; `admit(n)`, if given, is called with its task count before anything is stored and throws to refuse it. */
  run(job: BatchJob, admit?: (tasks: number) => void): Promise<BatchAnswer> {
    if (this.stopping) return Promise.reject(new ApiError('NODE_STOPPING', 'this node is stopping; retry on another node'));
    clearTimeout(this.idleTimer);
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<BatchAnswer>((resolve, reject) => {
      this.pending.set(id, { worker: w, admit, resolve, reject });
      w.postMessage({ type: 'job', id, job, askCount: !!admit } satisfies ToThread);
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size || !this.worker) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const w = this.worker;
      if (!w || this.pending.size) return;
      this.worker = undefined;
      void this.end(w);
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** Closes a thread's pool and ends it (a thread already without batches). */
  private async end(w: Worker): Promise<void> {
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    const stopped = new Promise<void>((r) => w.on('message', (m: FromThread) => m.type === 'stopped' && r()));
    w.postMessage({ type: 'stop' } satisfies ToThread);
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 2500))]);
    await w.terminate();
    await exited;
  }

  private start(): Worker {
    const w = new Worker(bootstrap(), { eval: true, workerData: this.settings, name: 'sundial-batch' });
    this.worker = w;
    w.on('message', (m: FromThread) => this.onMessage(w, m));
    w.on('error', (err) => this.log.error({ err }, 'batch thread failed'));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      const lost = [...this.pending].filter(([, p]) => p.worker === w);
      if (lost.length && !this.stopping) this.log.error({ code, batches: lost.length }, 'batch thread exited; its batches failed');
      for (const [id, p] of lost) {
        this.pending.delete(id);
        // it may have died after a COMMIT that claimed runs for this node: reported as such
        p.reject(new BatchDatabaseError({ message: `the batch thread exited (code ${code})` }, true));
      }
    });
    return w;
  }

  private onMessage(w: Worker, m: FromThread): void {
    if (m.type === 'stopped') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'count': {
        let ok = true;
        try {
          p.admit?.(m.tasks);
        } catch (err) {
          ok = false;
          p.refusal = err;
        }
        w.postMessage({ type: 'admit', id: m.id, ok } satisfies ToThread);
        return;
      }
      case 'done':
        this.settled(m.id);
        return p.resolve(m.answer);
      case 'refused':
        this.settled(m.id);
        return p.reject(p.refusal);
      case 'rejected':
        this.settled(m.id);
        return p.reject(errorOf(m.error));
      case 'failed':
        this.settled(m.id);
        return p.reject(new BatchDatabaseError(m.error, m.claimedBeforeFailure));
    }
  }

  /** Lets the batches in flight finish (up to `timeoutMs`), closes the thread's pool and ends it. */
  stop(timeoutMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.idleTimer);
      const w = this.worker;
      if (!w) return;
      const deadline = Date.now() + timeoutMs;
      while (this.pending.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await this.end(w);
    })();
    return this.stopping;
  }
}

/**
 * Batch threads side by side: each batch goes to a running thread that has none in
 * flight, else to a new thread while fewer than `size` run, else to the least busy.
 * One thread's parsing, validation and answers were the import's bottleneck on two
 * cores: sampled every 4 ms through a million-task load, the thread was runnable in 90 %
 * of the samples and the only thing runnable in 10 %, the cores 10-13 % idle while
 * PostgreSQL's backends waited for it (docs/api.md). Each thread has its own share of
 * the PostgreSQL connections, and ends on its own when idle.
 */
export class BatchThreads {
  private readonly threads: BatchThread[];

  constructor(settings: ThreadSettings, log: Logger, size: number, idleMs = BATCH_THREAD_IDLE_MS) {
    const connections = Math.max(1, Math.ceil(settings.connections / size));
    this.threads = Array.from({ length: size }, () => new BatchThread({ ...settings, connections }, log, idleMs));
  }

  /** threads running now */
  get started(): number {
    return this.threads.filter((t) => t.started).length;
  }

  run(job: BatchJob, admit?: (tasks: number) => void): Promise<BatchAnswer> {
    const running = this.threads.filter((t) => t.started);
    const free = running.find((t) => t.inFlight === 0) ?? this.threads.find((t) => !t.started);
    const least = () => running.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return (free ?? least()).run(job, admit);
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await Promise.all(this.threads.map((t) => t.stop(timeoutMs)));
  }
}
