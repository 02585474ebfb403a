// What PostgreSQL alone spends inserting Sundial's task rows, without the node: 1,000-row
// transactions from one connection, each the key lookup (FOR UPDATE) and the insert the
// batch endpoint runs, measured as that backend's CPU (/proc). It compares the statement
// the batch endpoint uses (INSERT … SELECT FROM jsonb_to_recordset) with COPY of the same
// rows, then drops the indexes one at a time to show what each costs a row.
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
  for (let b = 0; b < BATCHES; b++) {
    const data = rows();
    await sql.begin(async (tx) => {
      if (lookup) await tx`select * from tasks where (key collate "C") = any(${data.map((r) => r.key)}::text[]) and state <> 'deleted' and key is not null for update`;
      await insert(tx, data);
    });
  }
  const [{ bytes }] = await sql`select pg_current_wal_lsn() - ${lsn0}::pg_lsn as bytes`;
  const perK = (cpuMs(pid) - c0) / BATCHES;
  console.log(`${label.padEnd(52)} backend CPU ${perK.toFixed(1)} ms per 1,000 rows, WAL ${Math.round(Number(bytes) / (BATCHES * B))} B a row`);
}
console.log(`${BATCHES} transactions of ${B} rows each, one connection; the table grows through the runs`);
await run('jsonb_to_recordset (the batch endpoint)', viaRecordset);
await run('COPY', viaCopy);
await run('jsonb_to_recordset again', viaRecordset);
await run('COPY again', viaCopy);
await run('jsonb_to_recordset, no key lookup', viaRecordset, false);
await sql`drop index tasks_created_idx`;
await run('  and without tasks_created_idx', viaRecordset, false);
await sql`drop index tasks_due_idx`;
await run('  and without tasks_due_idx', viaRecordset, false);
await sql`drop index tasks_key_uidx`;
await run('  and without tasks_key_uidx (primary key only)', viaRecordset, false);
await sql.end();
await pg.stop();
rmSync(work, { recursive: true, force: true });
