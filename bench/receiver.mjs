// The end-to-end benchmark's receiver, in a process of its own: every system's
// execution is an HTTP POST of {"i": index, "due": epoch ms} here, and the receiver
// takes its own clock the moment the request's body has arrived. lag = arrival − due.
//
// Two listeners: `ok` answers 204 at once; `hung` accepts the request and never
// answers (a receiver that is up but stuck), so its callers run into their timeouts.
//
// The harness forks it with BENCH_RECEIVER (JSON: { n }) and talks over IPC:
//   ← { type: 'ready', okPort, hungPort }
//   → { type: 'reset', n }   ← { type: 'reset' }
//   → { type: 'count' }      ← { type: 'count', received, dups, hung, maxConcurrent }
//   → { type: 'report' }     ← { type: 'report', lags: (number|null)[], dups, hung, maxConcurrent,
//                                loop: { p99Ms, maxMs } (its event-loop delay since the reset) }
//   → { type: 'stop' }       ← exits
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const cfg = JSON.parse(process.env.BENCH_RECEIVER ?? '{}');
let n = cfg.n ?? 0;
let lags = new Float64Array(n).fill(NaN);
let received = 0;
let dups = 0;
let hung = 0;
let open = 0;
let maxConcurrent = 0;
// the receiver's own event-loop delay since the last reset: is a late arrival its own wait?
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

const ok = createServer((req, res) => {
  open++;
  if (open > maxConcurrent) maxConcurrent = open;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = Date.now();
    open--;
    try {
      const { i, due } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (Number.isInteger(i) && i >= 0 && i < n) {
        if (Number.isNaN(lags[i])) {
          lags[i] = at - due;
          received++;
        } else dups++;
      }
    } catch {
      /* not a benchmark body */
    }
    res.writeHead(204).end();
  });
});
ok.keepAliveTimeout = 30_000;
ok.headersTimeout = 0;
ok.requestTimeout = 0;

const stuck = new Set();
const hungServer = createServer((req) => {
  hung++;
  stuck.add(req);
  req.on('close', () => stuck.delete(req));
  req.resume();
});
hungServer.requestTimeout = 0;
hungServer.headersTimeout = 0;

const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
const [okPort, hungPort] = await Promise.all([listen(ok), listen(hungServer)]);

process.on('message', (m) => {
  if (m.type === 'reset') {
    n = m.n;
    lags = new Float64Array(n).fill(NaN);
    received = 0;
    dups = 0;
    hung = 0;
    maxConcurrent = 0;
    loopDelay.reset();
    process.send({ type: 'reset' });
  } else if (m.type === 'count') process.send({ type: 'count', received, dups, hung, maxConcurrent });
  else if (m.type === 'report') {
    const loop = { p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
    process.send({ type: 'report', lags: Array.from(lags), dups, hung, maxConcurrent, loop });
  }
  else if (m.type === 'stop') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', okPort, hungPort });
