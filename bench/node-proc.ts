// A Sundial node as a real process, for the chaos run (bench/chaos.ts) and the drills
// (bench/chaos-drill.ts): bin/sundial.js serve on a given database, its output appended
// to <dir>/<id>.log, its exits that nobody asked for kept as crashes. `start()` again
// after it died is a restart under the same node id.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './lib.js';

const BIN = fileURLToPath(new URL('../bin/sundial.js', import.meta.url));

export class NodeProc {
  child?: ChildProcess;
  url = '';
  /** how many times it has been started */
  lives = 0;
  /** fenced-result counts per life, last scraped */
  fenced: number[] = [];
  /** set while a fault keeps this node down on purpose (its exit is not a crash) */
  down = false;
  /** exits nobody asked for, with the last lines of the log */
  crashes: { at: number; code: number | null; signal: string | null; tail: string }[] = [];
  /** the highest VmRSS `sampleRss` has seen, in MB */
  peakRssMb = 0;
  exited: Promise<number | null> = Promise.resolve(null);
  private tail: string[] = [];
  private starting?: Promise<void>;
  private readonly out: WriteStream;

  constructor(
    readonly id: string,
    readonly databaseUrl: string,
    readonly dir: string,
    readonly env: Record<string, string> = {},
  ) {
    this.out = createWriteStream(join(dir, `${id}.log`), { flags: 'a' });
  }

  get alive() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** (Re)starts the process and waits for /readyz; concurrent calls share one start. */
  start(): Promise<void> {
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async spawn(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: this.databaseUrl,
        SUNDIAL_NODE_ID: this.id,
        LOG_LEVEL: 'info',
        // one load generator registers thousands of tasks a minute: the per-client API
        // rate limit is not what is measured
        SUNDIAL_RATE_LIMIT_PER_MINUTE: '0',
        // the webhook receivers are on loopback
        SUNDIAL_WEBHOOK_ALLOW: '127.0.0.1/32',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.lives++;
    this.fenced.push(0);
    child.stdout!.pipe(this.out, { end: false });
    child.stderr!.pipe(this.out, { end: false });
    const keep = (b: Buffer) => {
      this.tail.push(...b.toString().split('\n').filter(Boolean));
      this.tail.splice(0, Math.max(0, this.tail.length - 8));
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        if (!this.down) this.crashes.push({ at: Date.now(), code, signal, tail: this.tail.join('\n') });
        r(code);
      }),
    );
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.id} exited with ${child.exitCode} while starting (log: ${this.dir}/${this.id}.log)`);
      if (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return;
      await sleep(100);
    }
    throw new Error(`${this.id} not ready in 60 s`);
  }

  signal(sig: NodeJS.Signals) {
    if (this.alive) this.child!.kill(sig);
  }

  sampleRss() {
    if (!this.alive) return;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child!.pid}/status`, 'utf8'));
      if (m) this.peakRssMb = Math.max(this.peakRssMb, Number(m[1]) / 1024);
    } catch {
      // exited between the check and the read
    }
  }

  /** Reads this life's fenced-result counter (skipped for a frozen node: it cannot answer). */
  async scrape(): Promise<void> {
    if (!this.alive) return;
    const text = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(1500) }).then((r) => r.text(), () => '');
    const line = text.split('\n').find((l) => l.startsWith('sundial_results_fenced_total '));
    if (line) this.fenced[this.fenced.length - 1] = Number(line.split(' ')[1]);
  }

  /** The graceful restart drill: SIGTERM, the exit awaited, `pauseMs` down, started again. */
  async terminateAndRestart(pauseMs = 2000): Promise<{ code: number | null; drainMs: number }> {
    const from = Date.now();
    this.down = true;
    this.signal('SIGTERM');
    const code = await this.exited;
    const drainMs = Date.now() - from;
    await sleep(pauseMs);
    this.down = false;
    await this.start();
    return { code, drainMs };
  }

  /** SIGTERM (a frozen node is thawed first), SIGKILL if it has not exited in 20 s; its exit code. */
  async stop(): Promise<number | null> {
    this.down = true;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), 20_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  /** Ends the log file (after the last stop). */
  close() {
    this.out.end();
  }
}
