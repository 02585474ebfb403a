// Self size of a V8 heap snapshot by constructor (objects, closures) or by kind (strings,
// arrays, code …): what a node's live heap is made of.
//   node --max-old-space-size=4096 bench/heap-summary.mjs file.heapsnapshot [--top=30]
// e.g. after `npx tsx bench/run.ts --e2e --e2e-only=steady --systems=sundial --heap-snapshot --out=…`
// (the snapshot is taken just before T, holding what the node claimed ahead).
import { readFileSync } from 'node:fs';
const snap = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const m = snap.snapshot.meta;
const F = m.node_fields.length;
const ti = m.node_fields.indexOf('type'), ni = m.node_fields.indexOf('name'), si = m.node_fields.indexOf('self_size');
const types = m.node_types[0];
const agg = new Map();
const N = snap.nodes;
for (let i = 0; i < N.length; i += F) {
  const type = types[N[i + ti]];
  const name = type === 'object' || type === 'closure' ? snap.strings[N[i + ni]] : `(${type})`;
  const a = agg.get(name) ?? [0, 0];
  a[0] += N[i + si]; a[1]++;
  agg.set(name, a);
}
const tot = [...agg.values()].reduce((s, a) => s + a[0], 0);
console.log('total MB', (tot / 2 ** 20).toFixed(1));
for (const [k, [b, c]] of [...agg].sort((x, y) => y[1][0] - x[1][0]).slice(0, Number(process.argv.find((a) => a.startsWith("--top="))?.slice(6) ?? 30))) console.log((b / 2 ** 20).toFixed(1).padStart(7), String(c).padStart(8), k.slice(0, 80));
