// Where a Sundial node's memory goes through a bulk import, with nothing else running:
// one node on an embedded PostgreSQL loads N keyed webhook tasks (due over the next hour,
// to bench/receiver.mjs) through POST /api/tasks/batch, 1,000 a request, 4 in flight,
// then idles for --tail seconds while the first of them fire. Every 2 s it prints the
// node's VmRSS and VmHWM, its thread count (each batch thread adds two: its isolate and
// its helper) and the main isolate's heap and external memory from /metrics, so RSS
// that is not the main heap shows up as the batch threads come and go.
//   npm run build:server && node bench/import-rss.mjs [--n=1000000] [--tail=30]
import { fork, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (k, d) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d;
const N = Number(arg('n', 1_000_000));
const TAIL_S = Number(arg('tail', 30));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { startEmbeddedPostgres, freePort } = await import(join(ROOT, 'dist/server/store/embedded-postgres.js'));

const work = mkdtempSync(join(tmpdir(), 'sundial-import-rss-'));
chmodSync(work, 0o755); // as root, initdb runs as the postgres user
const pg = await startEmbeddedPostgres(join(work, 'pg'));
const rx = fork(join(ROOT, 'bench/receiver.mjs'), [], { env: { ...process.env, BENCH_RECEIVER: JSON.stringify({ n: N }) } });
const { okPort } = await new Promise((r) => rx.on('message', (m) => m.type === 'ready' && r(m)));
const port = await freePort();
const node = spawn(process.execPath, ['bin/sundial.js', 'serve'], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, DATABASE_URL: pg.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', SUNDIAL_RATE_LIMIT_PER_MINUTE: '0', SUNDIAL_WEBHOOK_ALLOW: '127.0.0.1/32' },
});
const api = `http://127.0.0.1:${port}`;
for (;;) {
  if (await fetch(`${api}/readyz`).then((r) => r.ok, () => false)) break;
  await new Promise((r) => setTimeout(r, 200));
}

const t0 = Date.now();
let loaded = 0;
const status = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${node.pid}/status`, 'utf8'))[1]);
async function sample() {
  const metrics = await fetch(`${api}/metrics`).then((r) => r.text(), () => '');
  const mb = (name) => Math.round(Number(new RegExp(`^sundial_process_nodejs_${name} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN) / 2 ** 20);
  console.log(
    `${String(Math.round((Date.now() - t0) / 1000)).padStart(4)} s  loaded ${String(loaded).padStart(7)}  rss ${Math.round(status('VmRSS') / 1024)} MB (peak ${Math.round(status('VmHWM') / 1024)})  threads ${status('Threads')}  ` +
      `main heap ${mb('heap_size_used_bytes')} of ${mb('heap_size_total_bytes')} MB, external ${mb('external_memory_bytes')} MB`,
  );
}
await sample();
const timer = setInterval(sample, 2000);

let next = 0;
async function client() {
  for (;;) {
    const k0 = next;
    next += 1000;
    if (k0 >= N) return;
    const tasks = [];
    for (let k = k0; k < Math.min(N, k0 + 1000); k++) {
      const due = t0 + 10_000 + Math.floor((k * 3_600_000) / N);
      tasks.push({ key: `import/${k}`, name: `imported ${k}`, schedule: { type: 'once', at: new Date(due).toISOString() }, action: { type: 'webhook', url: `http://127.0.0.1:${okPort}/`, body: { i: k, due } } });
    }
    const r = await fetch(`${api}/api/tasks/batch`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'return=minimal' }, body: JSON.stringify({ tasks }) });
    if (r.status !== 201) throw new Error(`batch at ${k0}: ${r.status} ${(await r.text()).slice(0, 300)}`);
    await r.arrayBuffer();
    loaded += tasks.length;
  }
}
try {
  await Promise.all([client(), client(), client(), client()]);
  console.log(`imported ${N} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, TAIL_S * 1000));
} finally {
  clearInterval(timer);
  node.kill('SIGTERM');
  await new Promise((r) => node.once('exit', r));
  rx.send({ type: 'stop' });
  await pg.stop();
  rmSync(work, { recursive: true, force: true });
}
