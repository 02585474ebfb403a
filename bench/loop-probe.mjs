// Loaded into the Sundial node by NODE_OPTIONS (the benchmark's child processes inherit
// it; only the `serve` process acts): every 5 s, to stderr, the node's event-loop delay
// (monitorEventLoopDelay at 1 ms: how late its timers ran) and its garbage collections
// (count, the five longest, their sum). Tells a late delivery that waited for the node's
// own thread from one that waited elsewhere (a core, the receiver).
//   NODE_OPTIONS="--import ./bench/loop-probe.mjs" npx tsx bench/run.ts --e2e --e2e-only=import --import-pairs=1 --out=/tmp/x.json
if (process.argv.includes('serve')) {
  const { monitorEventLoopDelay, PerformanceObserver } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let gcs = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gcs.push(e.duration);
  }).observe({ entryTypes: ['gc'] });
  const ms = (ns) => (ns / 1e6).toFixed(1);
  setInterval(() => {
    gcs.sort((a, b) => b - a);
    const sum = gcs.reduce((a, b) => a + b, 0);
    process.stderr.write(`LOOP p50 ${ms(h.percentile(50))} p99 ${ms(h.percentile(99))} max ${ms(h.max)} ms; gc n ${gcs.length} top ${gcs.slice(0, 5).map((x) => x.toFixed(1)).join(',')} sum ${sum.toFixed(0)} ms\n`);
    h.reset();
    gcs = [];
  }, 5000).unref();
}
