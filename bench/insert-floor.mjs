// What PostgreSQL alone spends inserting Sundial's task rows, without the node: 1,000-row
// transactions from one connection, each the key lookup (FOR UPDATE) and the insert the
// batch endpoint runs, measured as that backend's CPU (/proc), and this process's CPU that
// built the parameters. It compares the statement the batch endpoint uses (INSERT … SELECT
// FROM unnest of one array per column) with the jsonb_to_recordset it used before and with
// COPY of the same rows, alternated, then drops the indexes one at a time to show what
// each costs a row.
//   npm run build:server && node bench/insert-floor.mjs [--batches=200]
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';

const arg = (k, d) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d;
const BATCHES = Number(arg('batches', 200));
const B = 1000;
const dist = new URL('../dist/server/store/', import.meta.url);
const { startEmbeddedPostgres } = await import(new URL('embedded-postgres.js', dist).href);
const { migrate } = await import(new URL('migrate.js', dist).href);
const { taskId } = await import(new URL('tasks.js', dist).href);

const work = mkdtempSync(join(tmpdir(), 'sundial-insert-floor-'));
chmodSync(work, 0o755); // as root, initdb runs as the postgres user
const pg = await startEmbeddedPostgres(join(work, 'pg'));
const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
await migrate(sql);
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const T0 = Date.now() + 3_600_000;
let seq = 0;
const rows = () => Array.from({ length: B }, () => {
  const i = seq++;
  return { id: taskId(), key: `u${i % 10}/task-${i}`, name: `reminder ${i}`, kind: 'once', run_at_ms: T0 + i, next_run_at_ms: T0 + i, payload: { i } };
});
const viaRecordset = (tx, data) => tx`
  insert into tasks (id, key, name, kind, run_at, next_run_at, payload)
  select v.id, v.key, v.name, v.kind, to_timestamp(v.run_at_ms / 1000), to_timestamp(v.next_run_at_ms / 1000), v.payload
  from jsonb_to_recordset(${JSON.stringify(data)}::text::jsonb)
    as v(id uuid, key text, name text, kind text, run_at_ms float8, next_run_at_ms float8, payload jsonb)`;
// the array literals as the batch endpoint writes them (store/tasks.ts rowsOf)
const el = (s) => {
  const q = JSON.stringify(s);
  return q.includes('\\') ? `"${s.replace(/[\\"]/g, '\\$&')}"` : q;
};
const lit = (xs) => `{${xs.join(',')}}`;
const viaUnnest = (tx, data) => tx`
  insert into tasks (id, key, name, kind, run_at, next_run_at, payload)
  select v.id, v.key, v.name, v.kind, to_timestamp(v.run_at_ms / 1000), to_timestamp(v.next_run_at_ms / 1000), v.payload
  from unnest(${lit(data.map((r) => r.id))}::text::uuid[], ${lit(data.map((r) => el(r.key)))}::text::text[],
    ${lit(data.map((r) => el(r.name)))}::text::text[], ${lit(data.map((r) => r.kind))}::text::text[],
    ${lit(data.map((r) => r.run_at_ms))}::text::float8[], ${lit(data.map((r) => r.next_run_at_ms))}::text::float8[],
    ${lit(data.map((r) => JSON.stringify(JSON.stringify(r.payload))))}::text::jsonb[])
    as v(id, key, name, kind, run_at_ms, next_run_at_ms, payload)`;
const esc = (s) => s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]);
const iso = (ms) => new Date(ms).toISOString();
async function viaCopy(tx, data) {
  let text = '';
  for (const r of data) text += `${r.id}\t${esc(r.key)}\t${esc(r.name)}\t${r.kind}\t${iso(r.run_at_ms)}\t${iso(r.next_run_at_ms)}\t${esc(JSON.stringify(r.payload))}\n`;
  const w = await tx`copy tasks (id, key, name, kind, run_at, next_run_at, payload) from stdin`.writable();
  await new Promise((resolve, reject) => w.on('error', reject).on('finish', resolve).end(text));
}
async function run(label, insert, lookup = true) {
  const [{ pid }] = await sql`select pg_backend_pid() as pid`;
  const [{ lsn: lsn0 }] = await sql`select pg_current_wal_lsn() as lsn`;
  const c0 = cpuMs(pid);
  const n0 = process.cpuUsage();
  for (let b = 0; b < BATCHES; b++) {
    const data = rows();
    await sql.begin(async (tx) => {
      if (lookup) await tx`select * from tasks where (key collate "C") = any(${data.map((r) => r.key)}::text[]) and state <> 'deleted' and key is not null for update`;
      await insert(tx, data);
    });
  }
  const [{ bytes }] = await sql`select pg_current_wal_lsn() - ${lsn0}::pg_lsn as bytes`;
  const perK = (cpuMs(pid) - c0) / BATCHES;
  const n = process.cpuUsage(n0);
  const nodeK = (n.user + n.system) / 1000 / BATCHES;
  console.log(`${label.padEnd(52)} backend CPU ${perK.toFixed(1)} ms per 1,000 rows, this process ${nodeK.toFixed(1)} ms, WAL ${Math.round(Number(bytes) / (BATCHES * B))} B a row`);
}
console.log(`${BATCHES} transactions of ${B} rows each, one connection; the table grows through the runs; this process's CPU includes making the rows`);
for (let round = 0; round < 2; round++) {
  await run('unnest of arrays (the batch endpoint)', viaUnnest);
  await run('jsonb_to_recordset (its statement before)', viaRecordset);
  await run('COPY', viaCopy);
}
await run('unnest, no key lookup (a first attempt, KeyGuess)', viaUnnest, false);
await sql`drop index tasks_created_idx`;
await run('  and without tasks_created_idx', viaUnnest, false);
await sql`drop index tasks_due_idx`;
await run('  and without tasks_due_idx', viaUnnest, false);
await sql`drop index tasks_key_uidx`;
await run('  and without tasks_key_uidx (primary key only)', viaUnnest, false);
await sql.end();
await pg.stop();
rmSync(work, { recursive: true, force: true });
