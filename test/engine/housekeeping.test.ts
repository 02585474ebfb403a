// Retention: old runs go, then the finished tasks they belonged to; nothing live is touched.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runsPrune } from '../../src/server/store/runs.js';
import { tasksPrune } from '../../src/server/store/tasks.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ scheduler: { pollIntervalMs: 60_000 } });
});
afterAll(async () => {
  await t?.stop();
});

it('prunes runs past retention, then finished tasks with no runs left, and nothing else', async () => {
  const sql = t.app.sql;
  const old = new Date('2020-01-01T00:00:00Z');
  const [done] = await sql`
    insert into tasks (name, kind, run_at, state, updated_at) values ('old reminder', 'once', ${old}, 'completed', ${old}) returning id`;
  const [recentDone] = await sql`
    insert into tasks (name, kind, run_at, state) values ('recent reminder', 'once', now(), 'completed') returning id`;
  const [active] = await sql`
    insert into tasks (name, kind, cron_expression, next_run_at, state, updated_at)
    values ('old but active', 'cron', '0 0 1 1 *', '2099-01-01', 'active', ${old}) returning id`;
  await sql`insert into runs (task_id, scheduled_for, status, started_at, finished_at)
            values (${done!.id}, ${old}, 'succeeded', ${old}, ${old}),
                   (${active!.id}, ${old}, 'succeeded', ${old}, ${old}),
                   (${recentDone!.id}, now(), 'succeeded', now(), now())`;
  const cutoff = new Date(Date.now() - 30 * 86_400_000);

  // tasks go only once their runs are gone
  expect(await tasksPrune(sql, cutoff)).toBe(0);
  expect(await runsPrune(sql, cutoff)).toBe(2);
  expect(await tasksPrune(sql, cutoff)).toBe(1);

  const left = await sql`select name from tasks where name in ('old reminder', 'recent reminder', 'old but active') order by name`;
  expect(left.map((r) => r.name)).toEqual(['old but active', 'recent reminder']);
  const [runs] = await sql`select count(*)::int as n from runs where task_id = ${recentDone!.id}`;
  expect(runs!.n).toBe(1);
});
