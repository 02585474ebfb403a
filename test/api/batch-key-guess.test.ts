// A batch's first attempt assumes its keys are free and leaves out their read
// (KeyGuess in src/server/api/batch.ts): what the keys hold must still decide every
// item's outcome. runBatch against a real database, as the batch thread runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyGuess, runBatch, type BatchEnv, type BatchJob } from '../../src/server/api/batch.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.stop();
});

const inFuture = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();
const job = (tasks: object[]): BatchJob => ({
  body: new TextEncoder().encode(JSON.stringify({ tasks })),
  now: Date.now(),
  minimal: true,
  idempotencyKey: null,
  claim: null,
});
const outcomes = (body: string) => (JSON.parse(body) as { items: { id: string; outcome: string }[] }).items;
const live = async (prefix: string) =>
  (await t.app.sql<{ n: number }[]>`select count(*)::int as n from tasks where key like ${prefix + '%'} and state <> 'deleted'`)[0]!.n;

describe('a batch that guesses its keys are free', () => {
  it('creates new keys, and a batch sent again finds them: unchanged or replaced, never a second task', async () => {
    const keys = new KeyGuess(2);
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys };
    const at = inFuture();
    const tasks = Array.from({ length: 20 }, (_, i) => ({ name: `g${i}`, key: `guess-a/${i}`, schedule: { type: 'once', at } }));
    const first = await runBatch(env, job(tasks));
    expect(outcomes(first.body).map((x) => x.outcome)).toEqual(tasks.map(() => 'created'));
    expect(keys.reading).toBe(false);
    // the same file again, one item changed: the guess misses, the batch reads its keys
    tasks[5] = { ...tasks[5]!, name: 'renamed' };
    const again = await runBatch(env, job(tasks));
    const items = outcomes(again.body);
    expect(items.map((x) => x.outcome)).toEqual(tasks.map((_, i) => (i === 5 ? 'replaced' : 'unchanged')));
    expect(items.map((x) => x.id)).toEqual(outcomes(first.body).map((x) => x.id));
    expect(await live('guess-a/')).toBe(20);
    // after a miss the next batches read first, then the thread guesses again
    expect(keys.reading).toBe(true);
    await runBatch(env, job([{ name: 'n1', key: 'guess-a/new-1', schedule: { type: 'once', at } }]));
    await runBatch(env, job([{ name: 'n2', key: 'guess-a/new-2', schedule: { type: 'once', at } }]));
    expect(keys.reading).toBe(false);
  });

  it('an item refused as new is judged again against what its key holds', async () => {
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys: new KeyGuess() };
    const past = '2025-01-01T00:00:00.000Z';
    const made = await runBatch(env, job([{ name: 'done', key: 'guess-b/done', schedule: { type: 'once', at: inFuture() } }]));
    const id = outcomes(made.body)[0]!.id;
    await t.app.sql`update tasks set state = 'completed', next_run_at = null, run_at = ${past} where id = ${id}`;
    // a past instant is refused for a new task, and means "unchanged" for this completed one
    const same = await runBatch(env, job([{ name: 'done', key: 'guess-b/done', schedule: { type: 'once', at: past } }]));
    expect(outcomes(same.body)).toEqual([{ id, key: 'guess-b/done', outcome: 'unchanged' }]);
    // and for a key nobody holds it stays refused, naming the item
    await expect(runBatch(env, job([{ name: 'x', key: 'guess-b/free', schedule: { type: 'once', at: past } }]))).rejects.toMatchObject({
      code: 'BATCH_INVALID',
      details: { field: 'tasks[0].schedule.at' },
    });
  });

  it('racing batches that guess one new key leave one task', async () => {
    const env: BatchEnv = { sql: t.app.sql, lookaheadMs: 2000, keys: new KeyGuess() };
    const at = inFuture();
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => runBatch(env, job([{ name: `r${i}`, key: 'guess-c/race', schedule: { type: 'once', at } }, { name: `own${i}`, key: `guess-c/own-${i}`, schedule: { type: 'once', at } }]))),
    );
    const raced = answers.map((a) => outcomes(a.body)[0]!);
    expect(raced.filter((x) => x.outcome === 'created')).toHaveLength(1);
    expect(new Set(raced.map((x) => x.id)).size).toBe(1);
    expect(await live('guess-c/race')).toBe(1);
    expect(await live('guess-c/own-')).toBe(6);
  });
});
