// Cost of GET /api/stats/upcoming with many tasks: one-time tasks spread over the next
// hours with a spike, recurring tasks on a realistic number of distinct schedules. Prints
// the cost of one computation (median and max of N, the node's own function on its own
// pool), the latency of a shared answer through HTTP on a real node, the plans of its two
// statements, and — side by side in the same run — the projection with grouping against
// the projection of every task on its own (what the grouping saves).
//
//   npm run build:server && npx tsx bench/upcoming.ts [--once 500000] [--cron 500000] [--requests 10]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';

type Embedded = typeof import('../src/server/store/embedded-postgres.js');
type Upcoming = typeof import('../src/server/api/upcoming.js');
type Store = typeof import('../src/server/store/upcoming.js');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { startEmbeddedPostgres, freePort } = (await import(join(ROOT, 'dist/server/store/embedded-postgres.js'))) as Embedded;
const { projectRecurring, upcomingCompute } = (await import(join(ROOT, 'dist/server/api/upcoming.js'))) as Upcoming;
const { tasksCronGroupBySchedule } = (await import(join(ROOT, 'dist/server/store/upcoming.js'))) as Store;

const { values } = parseArgs({ options: { once: { type: 'string', default: '500000' }, cron: { type: 'string', default: '500000' }, requests: { type: 'string', default: '10' } } });
const ONCE = Number(values.once);
const CRON = Number(values.cron);
const REQUESTS = Number(values.requests);
const MINUTE = 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);

const pgDir = mkdtempSync(join(tmpdir(), 'sundial-bench-upcoming-'));
const pg = await startEmbeddedPostgres(pgDir, await freePort());
let child: ChildProcess | undefined;
try {
  const port = await freePort();
  child = spawn(process.execPath, [join(ROOT, 'bin/sundial.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: pg.url, SUNDIAL_NODE_ID: 'bench', LOG_LEVEL: 'warn', SUNDIAL_RATE_LIMIT_PER_MINUTE: '0' },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) await sleep(100);
  // the node's own column transform: the store functions read camelCased rows
  const sql = postgres(pg.url, { max: 4, onnotice: () => {}, transform: { column: { from: postgres.toCamel } } });

  // One-time: spread uniformly over 10 min .. 6 h from now, plus a tenth of them in one minute (the 09:00 spike).
  const spikeAt = new Date(Math.floor((Date.now() + 2 * 60 * MINUTE) / MINUTE) * MINUTE + 5_000);
  await sql`
    insert into tasks (name, kind, run_at, next_run_at)
    select 'once ' || g, 'once', t, t
    from generate_series(1, ${ONCE}) g,
         lateral (select case when g % 10 = 0 then ${spikeAt}::timestamptz
                              else now() + interval '10 minutes' + (g::float / ${ONCE}) * interval '350 minutes' end as t) s`;
  // Recurring: daily reminders at 96 quarter-hours in 5 zones (480 schedules), plus 1 % every minute.
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
  await sql`
    insert into tasks (name, kind, cron_expression, timezone, next_run_at)
    select 'cron ' || g, 'cron',
           case when g % 100 = 0 then '* * * * *' else ((g / 5) % 4 * 15) || ' ' || ((g / 20) % 24) || ' * * *' end,
           (${zones}::text[])[1 + g % 5],
           now() + interval '1 day'
    from generate_series(1, ${CRON}) g`;
  await sql`analyze tasks`;
  log(`inserted ${ONCE.toLocaleString()} one-time tasks (a tenth at ${spikeAt.toISOString()}) and ${CRON.toLocaleString()} recurring tasks`);

  for (const hours of [6, 24]) {
    const times: number[] = [];
    let body: Awaited<ReturnType<typeof upcomingCompute>> | undefined;
    for (let i = 0; i < REQUESTS; i++) {
      const start = performance.now();
      body = await upcomingCompute(sql, Date.now(), hours);
      times.push(performance.now() - start);
    }
    const once = body!.buckets.reduce((n, b) => n + b.once, 0);
    const recurring = body!.buckets.reduce((n, b) => n + b.recurring, 0);
    const peak = body!.buckets.reduce((p, b) => (b.once + b.recurring > p.once + p.recurring ? b : p));
    const http: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const start = performance.now();
      await (await fetch(`${url}/api/stats/upcoming?hours=${hours}`)).json();
      http.push(performance.now() - start);
    }
    log(
      `hours=${hours}: one computation median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms over ${REQUESTS}; ` +
        `HTTP first ${http[0]!.toFixed(0)} ms, then shared median ${median(http.slice(1)).toFixed(1)} ms; ` +
        `${once.toLocaleString()} one-time + ${recurring.toLocaleString()} recurring occurrences, ${body!.scheduleGroups} schedule groups, ` +
        `${body!.unprojectedTasks} unprojected; peak ${(peak.once + peak.recurring).toLocaleString()} at ${peak.at}`,
    );
  }

  for (const [name, text] of [
    ['one-time per minute', `explain (analyze, buffers, costs off) select date_trunc('minute', next_run_at), count(*) from tasks where next_run_at >= now() and next_run_at < now() + interval '6 hours' and kind = 'once' and state = 'active' group by 1`],
    ['recurring groups', `explain (analyze, buffers, costs off) select cron_expression, timezone, start_at, end_at, count(*) as tasks, sum(count(*)) over () from tasks where kind = 'cron' and state = 'active' group by 1, 2, 3, 4 order by tasks desc limit 2000`],
  ] as const) {
    const plan = await sql.unsafe(text);
    const lines = plan.map((r) => String(Object.values(r)[0]));
    log(`plan, ${name}: ${lines.filter((l) => /Scan|Aggregate|Execution Time/.test(l)).map((l) => l.trim()).join(' | ')}`);
  }

  // The projection alone, grouped (what the endpoint does) and one task per group (what
  // evaluating every cron would cost), on the same data; the ungrouped side on a sample.
  const now = Date.now();
  const from = Math.floor(now / MINUTE) * MINUTE;
  const to = from + 6 * 60 * MINUTE;
  const { groups } = await tasksCronGroupBySchedule(sql, 2000);
  let start = performance.now();
  const grouped = projectRecurring(groups, { from, now, to, maxOccurrences: 200_000 });
  const groupedMs = performance.now() - start;
  const SAMPLE = 20_000;
  const rows = await sql<{ cronExpression: string; timezone: string }[]>`
    select cron_expression, timezone from tasks where kind = 'cron' order by random() limit ${SAMPLE}`;
  start = performance.now();
  projectRecurring(rows.map((r) => ({ ...r, startAt: null, endAt: null, tasks: 1 })), { from, now, to, maxOccurrences: Number.MAX_SAFE_INTEGER });
  const perTaskMs = performance.now() - start;
  log(
    `projection over 6 h: grouped ${groupedMs.toFixed(1)} ms for ${CRON.toLocaleString()} tasks in ${groups.length} groups (${grouped.occurrences.toLocaleString()} occurrences computed); ` +
      `one task at a time ${perTaskMs.toFixed(0)} ms for a sample of ${SAMPLE.toLocaleString()}, so ~${((perTaskMs * CRON) / SAMPLE / 1000).toFixed(1)} s for all ${CRON.toLocaleString()}`,
  );
  await sql.end();
} finally {
  child?.kill('SIGTERM');
  await new Promise((r) => (child && child.exitCode === null ? child.once('exit', r) : r(null)));
  await pg.stop();
  rmSync(pgDir, { recursive: true, force: true });
}
