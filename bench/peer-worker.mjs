// The worker side of one peer (graphile-worker, pg-boss or BullMQ), in a process of
// its own so its CPU seconds and peak RSS are its own. Plain JavaScript (no TS
// runner in this process: nothing but the peer and this file is measured).
//
// The harness forks it with BENCH_PEER (JSON: { peer, tuned, url, redisPort, queue, n })
// and talks over IPC:
//   → { type: 'count' }   ← { type: 'count', fired, dups }
//   → { type: 'report' }  ← { type: 'report', lags: number[] (NaN = never fired), dups }
//   → { type: 'stop' }    ← exits
// Each job's payload carries { i, due } (index, due time in epoch ms). The handler's
// first statement takes the start time: lag = start − due, on this machine's clock.
const cfg = JSON.parse(process.env.BENCH_PEER);
const n = cfg.n;
let lags = new Float64Array(n).fill(NaN);
let seen = new Uint8Array(n);
let fired = 0;
let dups = 0;
// recurring jobs: every start is kept (index, due, start)
const recurring = [];

function rec(i, due, start) {
  if (cfg.recurring) {
    recurring.push([i, due, start]);
    fired++;
    return;
  }
  if (i < 0 || i >= n) return;
  if (seen[i]) {
    dups++;
    return;
  }
  seen[i] = 1;
  fired++;
  lags[i] = start - due;
}

let stopWorker = async () => {};

// End to end (cfg.target set): the job's work is a POST of {i, due} to the receiver,
// through Node's fetch (undici, keep-alive), awaited; a failed POST fails the job.
async function deliver(i, due) {
  if (!cfg.target) return;
  const r = await fetch(cfg.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i, due }) });
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`receiver answered ${r.status}`);
}

async function startGraphile() {
  const { run } = await import('graphile-worker');
  const taskList = {
    bench: async (payload) => {
      const start = Date.now();
      rec(payload.i, payload.due, start);
      await deliver(payload.i, payload.due);
    },
  };
  const opts = cfg.tuned
    ? {
        connectionString: cfg.url,
        concurrency: 50,
        pollInterval: 100,
        maxPoolSize: 12,
        noHandleSignals: true,
        taskList,
        preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
      }
    : { connectionString: cfg.url, noHandleSignals: true, taskList };
  const runner = await run(opts);
  stopWorker = () => runner.stop();
}

async function startPgBoss() {
  const { default: PgBoss } = await import('pg-boss');
  const boss = new PgBoss({ connectionString: cfg.url, ...(cfg.tuned ? { max: 12 } : {}) });
  boss.on('error', (e) => process.stderr.write(`pg-boss: ${e.message}\n`));
  await boss.start();
  await boss.createQueue(cfg.queue).catch(() => {});
  const handler = async (jobs) => {
    const start = Date.now();
    for (const j of jobs) rec(j.data.i, j.data.due, start);
    await Promise.all(jobs.map((j) => deliver(j.data.i, j.data.due)));
  };
  if (cfg.tuned) {
    for (let k = 0; k < 10; k++) await boss.work(cfg.queue, { batchSize: 100, pollingIntervalSeconds: 0.5 }, handler);
  } else {
    await boss.work(cfg.queue, handler);
  }
  stopWorker = () => boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {});
}

async function startBull() {
  const { Worker } = await import('bullmq');
  const worker = new Worker(
    cfg.queue,
    async (job) => {
      const start = Date.now();
      rec(job.data.i, job.data.due ?? job.timestamp + (job.opts.delay ?? 0), start);
      await deliver(job.data.i, job.data.due);
    },
    {
      connection: { host: '127.0.0.1', port: cfg.redisPort, maxRetriesPerRequest: null },
      ...(cfg.tuned ? { concurrency: 100 } : {}),
      // keep Redis memory comparable to the PostgreSQL peers that keep finished jobs briefly
      removeOnComplete: { count: 1000 },
    },
  );
  worker.on('error', (e) => process.stderr.write(`bullmq: ${e.message}\n`));
  await worker.waitUntilReady();
  stopWorker = () => worker.close(true);
}

process.on('message', async (m) => {
  if (m.type === 'count') process.send({ type: 'count', fired, dups });
  else if (m.type === 'report') {
    if (cfg.recurring) process.send({ type: 'report', recurring, dups });
    else process.send({ type: 'report', lags: Array.from(lags), dups });
  } else if (m.type === 'reset') {
    lags = new Float64Array(n).fill(NaN);
    seen = new Uint8Array(n);
    fired = 0;
    dups = 0;
    recurring.length = 0;
    process.send({ type: 'reset' });
  } else if (m.type === 'stop') {
    await Promise.race([stopWorker(), new Promise((r) => setTimeout(r, 5000))]);
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

const start = { graphile: startGraphile, pgboss: startPgBoss, bullmq: startBull }[cfg.peer];
start().then(
  () => process.send({ type: 'ready' }),
  (err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
