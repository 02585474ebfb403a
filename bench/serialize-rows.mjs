// The batch endpoint's serialisation alone (no HTTP, no database), per 1,000 rows: the
// recordset parameter as row objects and one JSON.stringify (what the node does) against
// JSON text written by hand, and the minimal answer both ways.
//   node bench/serialize-rows.mjs
const T0 = Date.now() + 3_600_000;
const rows = Array.from({ length: 1000 }, (_, i) => ({
  key: `u${i % 10}/task-${i}`, name: `reminder ${i}`, kind: 'once', runAt: new Date(T0 + i), nextRunAt: new Date(T0 + i),
  cronExpression: null, timezone: 'UTC', startAt: null, endAt: null, payload: { i }, action: { type: 'log' },
  misfirePolicy: 'fire_once', overlapPolicy: 'allow', maxLatenessMs: null, state: 'active',
}));
const ids = rows.map((_, i) => `0193abcd-1234-7abc-8def-${String(i).padStart(12, '0')}`);
// the shape of rowJson in src/server/store/tasks.ts (defaults left out)
function rowObject(id, t) {
  const row = { id, name: t.name, kind: t.kind };
  if (t.nextRunAt) row.next_run_at_ms = t.nextRunAt.getTime();
  if (t.key !== null) row.key = t.key;
  if (t.runAt) row.run_at_ms = t.runAt.getTime();
  if (t.timezone !== 'UTC') row.timezone = t.timezone;
  if (t.payload !== null && t.payload !== undefined) row.payload = t.payload;
  if (t.action.type !== 'log') row.action = t.action;
  return row;
}
function rowText(id, t) {
  let s = `{"id":"${id}","name":${JSON.stringify(t.name)},"kind":"${t.kind}"`;
  if (t.nextRunAt) s += `,"next_run_at_ms":${t.nextRunAt.getTime()}`;
  if (t.key !== null) s += `,"key":${JSON.stringify(t.key)}`;
  if (t.runAt) s += `,"run_at_ms":${t.runAt.getTime()}`;
  if (t.timezone !== 'UTC') s += `,"timezone":${JSON.stringify(t.timezone)}`;
  if (t.payload !== null && t.payload !== undefined) s += `,"payload":${JSON.stringify(t.payload)}`;
  if (t.action.type !== 'log') s += `,"action":${JSON.stringify(t.action)}`;
  return s + '}';
}
const results = ids.map((id) => ({ id, outcome: 'created' }));
const cases = {
  'rows: objects + JSON.stringify': () => Buffer.from(JSON.stringify(rows.map((r, i) => rowObject(ids[i], r)))),
  'rows: text by hand': () => Buffer.from(`[${rows.map((r, i) => rowText(ids[i], r)).join(',')}]`),
  'answer: objects + JSON.stringify': () => Buffer.from(JSON.stringify({ items: results.map((r, i) => ({ id: r.id, key: rows[i].key, outcome: r.outcome })) })),
  'answer: text by hand': () => {
    let s = '{"items":[';
    for (let i = 0; i < results.length; i++) s += `${i ? ',' : ''}{"id":"${results[i].id}","key":${JSON.stringify(rows[i].key)},"outcome":"${results[i].outcome}"}`;
    return Buffer.from(s + ']}');
  },
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let round = 0; round < 5; round++) {
  for (const [name, f] of Object.entries(cases)) {
    for (let k = 0; k < 50; k++) f();
    const t = performance.now();
    for (let k = 0; k < 300; k++) f();
    times[name].push((performance.now() - t) / 300);
  }
}
for (const [name, ts] of Object.entries(times)) console.log(`${name.padEnd(36)} ${ts.sort((a, b) => a - b)[2].toFixed(3)} ms per 1,000 (median of 5 rounds)`);
