// Plans of a table that grows faster than autovacuum analyses it: the claim walks the due
// index whatever the statistics say, and the engine's pool plans each statement for the
// table as it is now instead of reusing a plan cached while the table was empty.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planClaim } from '../../src/server/scheduler/plan.js';
import { connect, type Sql } from '../../src/server/store/db.js';
import { occurrencesClaimDue } from '../../src/server/store/runs.js';
import { storeDatabase, type StoreDb } from '../support/store.js';

let s: StoreDb;
const pools: Sql[] = [];
beforeAll(async () => {
  s = await storeDatabase();
});
afterAll(async () => {
  for (const p of pools) await p.end({ timeout: 1 });
  await s?.close();
});

/** A pool of one connection, so every statement runs in the session whose counters are read. */
function session(customPlans = false): Sql {
  const p = connect({ url: s.db.url, max: 1, customPlans });
  pools.push(p);
  return p;
}

const claim = (sql: Sql, now: Date, limit = 1000) =>
  occurrencesClaimDue(sql, { nodeId: 'plans', horizon: new Date(now.getTime() + 2000), limit, plan: (t) => planClaim(t, now, 10_000) });

/**
 * A session whose statements' plans come back to it: auto_explain reports each plan as
 * a notice. Columns are camelCased as on the node's own pools.
 */
function explainingSession(): { sql: Sql; plans: string[] } {
  const plans: string[] = [];
  const sql = postgres(s.db.url, {
    max: 1,
    transform: { column: { from: postgres.toCamel } },
    onnotice: (n) => plans.push(String(n.message)),
    connection: { 'auto_explain.log_min_duration': '0', 'auto_explain.log_level': 'notice' } as Record<string, string>,
  });
  pools.push(sql);
  return { sql, plans };
}

const insertTasks = (sql: Sql, n: number, at: string) => sql`
  insert into tasks (name, kind, run_at, next_run_at)
  select 'task ' || i, 'once', now() + ${at}::interval, now() + ${at}::interval from generate_series(1, ${n}) i`;

describe('plans of a table that grows from empty', () => {
  it('the claim walks the due index on a table PostgreSQL has no statistics for', async () => {
    const { sql, plans } = explainingSession();
    await sql`load 'auto_explain'`;
    const now = new Date();
    // an import into a new database, never analysed: 60,000 tasks due in an hour and a
    // backlog of 50,000 due a minute ago. Autovacuum is kept off this table: it may
    // analyse it as soon as the rows land (it did, once in a full run), which is the
    // case this test must not depend on.
    await s.sql`alter table tasks set (autovacuum_enabled = false)`;
    await insertTasks(s.sql, 60_000, '1 hour');
    await insertTasks(s.sql, 50_000, '-1 minute');
    const [stats] = await s.sql<{ n: string }[]>`select count(*) as n from pg_stats where tablename = 'tasks'`;
    expect(Number(stats!.n)).toBe(0);

    // what PostgreSQL guesses for the claim's statement on its own: not the index walk
    plans.length = 0;
    await sql`select id from tasks where next_run_at <= ${new Date(now.getTime() + 2000)} and state = 'active' order by next_run_at limit 1000 for update skip locked`;
    expect(plans.join('\n')).toMatch(/Seq Scan on tasks|Bitmap Heap Scan on tasks/);

    // the claim: 1,000 of the backlog, earliest first, read in order from the due index
    for (let i = 0; i < 3; i++) {
      plans.length = 0;
      expect((await claim(sql, now)).tasks).toBe(1000);
      const claimPlan = plans.find((p) => p.includes('for update skip locked'));
      expect(claimPlan).toMatch(/Index Scan using tasks_due_idx on tasks/);
      expect(claimPlan).not.toMatch(/Seq Scan on tasks|Bitmap Heap Scan on tasks/);
    }
  });

  it('a customPlans pool plans every execution; a plain pool reuses a generic plan after five', async () => {
    const plain = session();
    const engine = session(true);
    // a statement whose generic plan costs what its custom plans do (a primary-key lookup),
    // so the plain pool's switch to it after five executions does not hang on the table's
    // statistics, which autovacuum may be gathering meanwhile
    const count = (sql: Sql) => sql`select count(*) from tasks where id = ${'00000000-0000-7000-8000-000000000000'}::uuid`;
    for (let i = 0; i < 8; i++) {
      await count(plain);
      await count(engine);
    }
    const generic = async (sql: Sql) => {
      const [st] = await sql<{ genericPlans: string; customPlans: string }[]>`
        select generic_plans, custom_plans from pg_prepared_statements where statement like 'select count(*) from tasks where id =%'`;
      return { generic: Number(st!.genericPlans), custom: Number(st!.customPlans) };
    };
    expect((await generic(plain)).generic).toBeGreaterThan(0);
    expect(await generic(engine)).toEqual({ generic: 0, custom: 8 });
  });
});
