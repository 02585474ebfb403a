// CPU by JavaScript function for some threads, from Linux perf (samples CPU time only,
// where V8's --cpu-prof samples wall time: on two shared cores a thread preempted
// inside a socket write or a postMessage is counted there as if it were working).
//   NODE_OPTIONS=--perf-basic-prof npx tsx bench/bulk.ts --n=600000 --systems=sundial &
//   perf record -a -g -o perf.data -- sleep 8          # in the load's middle
//   perf script -i perf.data -F comm,pid,tid | sort | uniq -c | sort -rn | head   # which tids
//   perf script -i perf.data --tid T1,T2 -F tid,ip,sym | node bench/perf-threads.mjs [--top=40]
// "first JS frame": each sample goes to the innermost JavaScript function on its stack
// (native code it called, JSON.parse say, counts for it); collections count as GC.
// "inclusive": the share of samples with the function anywhere on the stack.
import { readFileSync } from 'node:fs';

const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 40);
const samples = [];
let cur = null;
for (const line of readFileSync(0, 'utf8').split('\n')) {
  if (!line.trim()) {
    if (cur) samples.push(cur);
    cur = null;
  } else if (line[0] !== '\t') cur = [];
  else cur?.push(line.trim().split(/\s+/).slice(1).join(' '));
}
if (cur) samples.push(cur);

const clean = (f) => f.replace(/^JS:[*~^]?/, '').replace(/ file:\/\/\S*\/(dist|node_modules)\//, ' $1/').replace(/:\d+:\d+$/, '');
const first = new Map();
const inclusive = new Map();
const add = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
for (const s of samples) {
  const gc = s.some((f) => /Scaveng|MarkCompact|Heap::Collect/.test(f));
  const js = s.find((f) => f.startsWith('JS:') || f.startsWith('RegExp'));
  add(first, gc ? 'GC' : js ? clean(js) : `native: ${s[0] ?? '?'}`);
  for (const k of new Set(s.filter((f) => f.startsWith('JS:')).map(clean))) add(inclusive, k);
}
const print = (title, m) => {
  console.log(`--- ${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / samples.length).toFixed(1).padStart(5)} %  ${k}`);
};
console.log(`${samples.length} samples`);
print('first JS frame', first);
print('inclusive', inclusive);
