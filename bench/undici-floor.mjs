// The floor for a webhook burst on this machine: a bare undici Pool (64 connections,
// keep-alive, like Sundial's per origin) POSTing N small JSON bodies with Sundial's six
// headers to the end-to-end receiver (bench/receiver.mjs, its own process), as fast as
// it answers, 64 in flight. Prints this process's CPU seconds and the wall time.
//   node bench/undici-floor.mjs [n=20000]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const n = Number(process.argv[2] ?? 20_000);
const rx = fork(fileURLToPath(new URL('./receiver.mjs', import.meta.url)), [], { env: { ...process.env, BENCH_RECEIVER: JSON.stringify({ n }) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const port = await new Promise((r) => rx.on('message', (m) => m.type === 'ready' && r(m.okPort)));
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
const due = Date.now();
const bodies = Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify({ i, due })));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const res = await pool.request({
      path: '/hook',
      method: 'POST',
      headers: ['user-agent', 'Sundial/1', 'content-type', 'application/json', 'idempotency-key', `k:${i}`, 'sundial-run-id', String(i), 'sundial-attempt', '1', 'sundial-signature', `t=1,v1=${'0'.repeat(64)}`],
      body: bodies[i],
    });
    await res.body.dump();
  }
}
await Promise.all(Array.from({ length: 64 }, worker));
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(`${n} POSTs: wall ${(wall / 1000).toFixed(2)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)})`);
await pool.close();
rx.send({ type: 'stop' });
