// A node frozen or gone inside a transaction must not hold its row locks for long:
// the claim's FOR UPDATE would keep every other node from those tasks (they SKIP
// LOCKED past them) with no lease to rescue them. PostgreSQL itself ends such sessions.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ scheduler: { leaseMs: 3000, heartbeatMs: 1000 } });
});
afterAll(async () => {
  await t?.stop();
});

it("a node's sessions end a transaction left idle longer than the lease", async () => {
  const [row] = await t.app.sql`show idle_in_transaction_session_timeout`;
  expect(row!.idleInTransactionSessionTimeout).toBe('3s');
  const started = Date.now();
  const stalled = t.app.sql.begin(async (tx) => {
    await tx`select id from tasks for update`;
    await new Promise((r) => setTimeout(r, 5000)); // the client "freezes" inside the transaction
    await tx`select 1`;
  });
  await expect(stalled).rejects.toThrow();
  expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  // the pool recovers: the node goes on working
  const [ok] = await t.app.sql`select 1 as one`;
  expect(ok!.one).toBe(1);
});
