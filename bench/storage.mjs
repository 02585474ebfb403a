// Bytes stored per task and per run, and WAL written per occurrence, on Sundial's own schema.
// Run from the repository root after `npm run build:server`:  node bench/storage.mjs
// Each part starts its own embedded PostgreSQL in a temporary folder; docs/design.md quotes
// the figures this prints (its capacity model and appendix).
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const D = process.cwd() + '/dist/server/';
const { startEmbeddedPostgres } = await import(D + 'store/embedded-postgres.js');
const { connect } = await import(D + 'store/db.js');
const { migrate } = await import(D + 'store/migrate.js');
const store = await import(D + 'store/runs.js');
const { planClaim } = await import(D + 'scheduler/plan.js');

async function withDatabase(name, fn) {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  chmodSync(dir, 0o755); // the embedded server may run as another user (root start)
  const pg = await startEmbeddedPostgres(join(dir, 'pg'));
  const sql = connect({ url: pg.url, max: 2 });
  try {
    await migrate(sql);
    await fn(sql);
  } finally {
    await sql.end();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Sizes: half one-time, half cron tasks; runs inserted as claimed, then completed as the
// engine completes them (a non-HOT update), measured after plain VACUUM (what a live table
// holds) and after VACUUM FULL (compacted).
const NT = 200_000;
const NR = 500_000;
await withDatabase('sizes', async (sql) => {
  await sql`insert into tasks (name, kind, run_at, cron_expression, timezone, next_run_at)
    select 'reminder for user ' || g, case when g % 2 = 0 then 'once' else 'cron' end,
           case when g % 2 = 0 then now() + g * interval '1 s' end,
           case when g % 2 = 1 then '0 9 * * *' end, 'Europe/Berlin', now() + g * interval '1 s'
    from generate_series(1, ${NT}) g`;
  await sql`vacuum analyze tasks`;
  const [t] = await sql`select pg_relation_size('tasks') / ${NT} heap, pg_indexes_size('tasks') / ${NT} idx`;
  console.log(`tasks, per active task: heap ${t.heap} B, indexes ${t.idx} B`);
  await sql`insert into runs (task_id, scheduled_for, status, attempt, node_id, claimed_at)
    select t.id, now() + (g % 86400) * interval '1 s' + (g / 86400) * interval '1 day', 'pending', 1, 'sundial-node-1', now()
    from generate_series(1, ${NR}) g
    join lateral (select id from tasks where tasks.name = 'reminder for user ' || (1 + g % ${NT})) t on true`;
  await sql`update runs set status = 'succeeded', started_at = scheduled_for, finished_at = scheduled_for + interval '1 ms'`;
  await sql`vacuum analyze runs`;
  const [r] = await sql`select pg_relation_size('runs') / ${NR} heap, pg_indexes_size('runs') / ${NR} idx`;
  console.log(`runs, per run after insert + completion + VACUUM: heap ${r.heap} B, indexes ${r.idx} B`);
  await sql`vacuum full runs`;
  const [c] = await sql`select pg_relation_size('runs') / ${NR} heap, pg_indexes_size('runs') / ${NR} idx`;
  console.log(`runs, per run compacted (VACUUM FULL): heap ${c.heap} B, indexes ${c.idx} B`);
});

// WAL: 100,000 due one-time tasks claimed and completed through the engine's own statements
// in batches of 1,000, counted from a checkpoint (full-page images included).
const N = 100_000;
await withDatabase('wal', async (sql) => {
  const due = new Date(Date.now() - 1000);
  await sql`insert into tasks (name, kind, run_at, next_run_at)
    select 'c-' || g, 'once', ${due}, ${due} from generate_series(1, ${N}) g`;
  await sql`checkpoint`;
  const [{ l0 }] = await sql`select pg_current_wal_insert_lsn() l0`;
  for (;;) {
    const now = new Date();
    const { claimed } = await store.occurrencesClaimDue(sql, {
      nodeId: 'n1',
      horizon: new Date(now.getTime() + 2000),
      limit: 1000,
      plan: (task) => planClaim(task, now, 10_000),
    });
    if (!claimed.length) break;
    const at = new Date();
    await store.runsComplete(
      sql,
      'n1',
      claimed.map((c) => ({ id: c.id, attempt: c.attempt, status: 'succeeded', startedAt: at, finishedAt: at, late: false, reason: null })),
    );
  }
  const [{ b }] = await sql`select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), ${l0}) b`;
  console.log(`WAL per occurrence (claim + completion, batches of 1,000): ${(Number(b) / N).toFixed(0)} B`);
});
