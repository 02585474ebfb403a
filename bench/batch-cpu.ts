// The batch endpoint's own work per 1,000 tasks, without HTTP or a database: parse,
// validate, build the rows' column arrays and the minimal answer (api/batch.ts runBatch),
// against a stand-in transaction that takes the INSERT's text and parameters and
// answers that every row was stored. It prints the CPU per 1,000 tasks and, with
// --garbage, where the bytes allocated per batch come from (V8's sampling heap profiler,
// what the scavenger collected included): a diagnostic for the import's CPU, whose
// figures come from bench/bulk.ts.
//   npx tsx bench/batch-cpu.ts [--garbage]
import { Session } from 'node:inspector/promises';
import { KeyGuess, runBatch, type BatchEnv } from '../src/server/api/batch.js';

const N = 1000;
const body = (b: number) =>
  Buffer.from(JSON.stringify({
    tasks: Array.from({ length: N }, (_, j) => {
      const i = b * N + j; // the tasks bench/bulk.ts loads
      return { key: `bench/${i}`, name: `reminder ${i}`, schedule: { type: 'once', at: new Date(Date.now() + 60_000 + i).toISOString() }, payload: { i } };
    }),
  }));
const bodies = Array.from({ length: 50 }, (_, b) => body(b));
const tx = Object.assign(async () => [], { unsafe: async () => Object.assign([], { count: N }) });
const env = { sql: { begin: async (fn: (t: unknown) => unknown) => fn(tx) }, lookaheadMs: 5000, keys: new KeyGuess() } as unknown as BatchEnv;
const batches = async (n: number) => {
  for (let k = 0; k < n; k++) await runBatch(env, { body: bodies[k % bodies.length]!, now: Date.now(), minimal: true, idempotencyKey: null, claim: null });
};

await batches(100); // warm: compiled, caches filled
if (process.argv.includes('--garbage')) {
  const s = new Session();
  s.connect();
  await s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  await batches(200);
  const { profile } = (await s.post('HeapProfiler.stopSampling')) as { profile: { head: Frame } };
  interface Frame { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children?: Frame[] }
  const bySite = new Map<string, number>();
  const walk = (f: Frame) => {
    const site = `${f.callFrame.functionName || '(anonymous)'} ${f.callFrame.url.split('/').pop()}:${f.callFrame.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + f.selfSize);
    f.children?.forEach(walk);
  };
  walk(profile.head);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  console.log(`allocated per batch of ${N}: ${(total / 200 / 1e6).toFixed(2)} MB`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(bytes / 200 / 1e3).toFixed(0).padStart(6)} KB  ${site}`);
} else {
  for (let round = 0; round < 5; round++) {
    const c0 = process.cpuUsage();
    await batches(200);
    const c = process.cpuUsage(c0);
    console.log(`round ${round + 1}: ${((c.user + c.system) / 1000 / 200).toFixed(2)} ms of CPU per ${N.toLocaleString('en')} tasks`);
  }
}
