// Probe for one failure of the chaos run: a node frozen (SIGSTOP) inside its claim
// transaction. Two nodes on an embedded PostgreSQL, many every-second crons; the victim
// is frozen repeatedly at random instants. Each time, pg_stat_activity says whether it
// froze inside a transaction, and the runs of the frozen interval say who fired them,
// on which attempt and how late. See docs/reliability.md, "Defects these tests found".
//
//   npm run build:server && npx tsx bench/chaos-freeze-probe.ts [--freezes 20] [--crons 300]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';

type Embedded = typeof import('../src/server/store/embedded-postgres.js');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { startEmbeddedPostgres, freePort } = (await import(join(ROOT, 'dist/server/store/embedded-postgres.js'))) as Embedded;

const { values } = parseArgs({ options: { freezes: { type: 'string', default: '20' }, crons: { type: 'string', default: '300' }, 'freeze-ms': { type: 'string', default: '6800' } } });
const FREEZES = Number(values.freezes);
const CRONS = Number(values.crons);
const FREEZE_MS = Number(values['freeze-ms']);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);

const pgDir = mkdtempSync(join(tmpdir(), 'sundial-freeze-probe-'));
const pg = await startEmbeddedPostgres(pgDir, await freePort());
const children: ChildProcess[] = [];

async function startNode(id: string) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin/sundial.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: pg.url, SUNDIAL_NODE_ID: id, LOG_LEVEL: 'warn', SUNDIAL_RATE_LIMIT_PER_MINUTE: '0' },
    stdio: 'ignore',
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) await sleep(100);
  return { id, url, child };
}

try {
  const victim = await startNode('victim');
  const survivor = await startNode('survivor');
  for (let i = 0; i < CRONS; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, CRONS - i) }, (_, k) =>
        fetch(`${survivor.url}/api/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `c${i + k}`, schedule: { type: 'cron', expression: '* * * * * *' } }),
        }),
      ),
    );
  }
  log(`${CRONS} every-second crons on 2 nodes; freezing the victim ${FREEZES} times for ${FREEZE_MS} ms`);
  const sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  await sleep(3000);
  let inside = 0;
  for (let i = 0; i < FREEZES; i++) {
    await sleep(1500 + Math.random() * 1000);
    const at = Date.now();
    victim.child.kill('SIGSTOP');
    await sleep(300);
    const open = await sql<{ state: string }[]>`
      select state from pg_stat_activity where application_name = 'sundial:victim' and xact_start is not null`;
    if (open.length) inside++;
    await sleep(FREEZE_MS - 300);
    victim.child.kill('SIGCONT');
    await sleep(3000);
    const runs = await sql<{ nodeId: string; attempt: number; n: number; maxLag: number }[]>`
      select node_id as "nodeId", attempt, count(*)::int as n,
             max(extract(epoch from started_at - scheduled_for))::float8 as "maxLag"
      from runs where scheduled_for between ${new Date(at - 2000)} and ${new Date(at + FREEZE_MS)} and status = 'succeeded'
      group by 1, 2 order by 1, 2`;
    log(
      `freeze ${i + 1}: ${open.length ? `inside a transaction (${open.map((o) => o.state).join(', ')})` : 'outside any transaction'}; ` +
        runs.map((r) => `${r.nodeId} attempt ${r.attempt}: ${r.n} runs, max lag ${r.maxLag.toFixed(2)} s`).join(' | '),
    );
  }
  log(`the victim froze inside a transaction in ${inside} of ${FREEZES} freezes`);
  await sql.end();
} finally {
  for (const c of children) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  await pg.stop();
  rmSync(pgDir, { recursive: true, force: true });
}
