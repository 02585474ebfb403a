// Self time of a V8 CPU profile (node --cpu-prof) by function and by file, optionally
// only from the first sample inside a function (e.g. `fireDue`, the burst's instant)
// for a number of seconds:
//   node bench/profile-summary.mjs file.cpuprofile [--from=fireDue] [--seconds=6] [--top=40]
import { readFileSync } from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
const opt = (k, d) => rest.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d;
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const fromFn = opt('from');
const seconds = Number(opt('seconds', 1e9));
const top = Number(opt('top', 40));

let t = prof.startTime;
const times = prof.samples.map((_, i) => (t += prof.timeDeltas[i] ?? 0));
let start = 0;
if (fromFn) {
  const parents = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  const inFn = (id) => {
    for (let x = id; x !== undefined; x = parents.get(x)) if (byId.get(x).callFrame.functionName === fromFn) return true;
    return false;
  };
  start = prof.samples.findIndex((id) => inFn(id));
  if (start < 0) throw new Error(`no sample in ${fromFn}`);
}
const t0 = times[start];
const fn = new Map();
const files = new Map();
let total = 0;
for (let i = start; i < prof.samples.length; i++) {
  if (times[i] - t0 > seconds * 1e6) break;
  const dt = (times[i + 1] ?? times[i]) - times[i];
  const cf = byId.get(prof.samples[i]).callFrame;
  if (cf.functionName === '(idle)') continue;
  total += dt;
  const url = cf.url.replace(/^file:\/\/.*node_modules\//, 'nm:').replace(/^file:\/\/.*\/dist\//, 'dist/');
  const key = `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + dt);
  const group = url.startsWith('nm:') ? url.split('/').slice(0, url.startsWith('nm:@') ? 2 : 1).join('/') : url.startsWith('node:') ? url.split('/').slice(0, 3).join('/') : url || cf.functionName;
  files.set(group, (files.get(group) ?? 0) + dt);
}
const ms = (v) => (v / 1000).toFixed(0).padStart(6);
console.log(`busy ${ms(total)} ms from sample ${start}${fromFn ? ` (${fromFn})` : ''}`);
console.log('\nby file/package:');
for (const [k, v] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${ms(v)}  ${k}`);
console.log('\nby function:');
for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(v)}  ${k}`);
