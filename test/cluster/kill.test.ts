// A node killed with SIGKILL while it holds claimed occurrences: the other node fires
// them once its lease lapses, within 10 s of their time, exactly once.
import { describe, expect, it } from 'vitest';
import {
  freshDatabase, allRuns, createCron, everySecond, expectExactlyOnce, heldBy, node, sleep, victimHolding, waitFinished, wholeSecondIn,
} from './cluster.js';

describe('SIGKILL', () => {
  it('hands the dead node\'s claimed occurrences to the survivor, fired within 10 s, once', async () => {
    const { db, sql } = await freshDatabase();
    const survivor = await node({ databaseUrl: db.url });
    const victim = await node({ databaseUrl: db.url, env: { SUNDIAL_LOOKAHEAD_MS: '5000' } });

    // an every-second cron as well: the victim holds its next occurrences too
    const cronStart = wholeSecondIn(2000);
    const cronEnd = new Date(cronStart.getTime() + 14_000);
    const cron = await createCron(victim.url, 'every-second', '* * * * * *', { startAt: cronStart, endAt: new Date(cronEnd.getTime() + 500) });

    const { ids, expected } = await victimHolding(sql, survivor, victim, 40);
    const cronHeld = (await heldBy(sql, victim.nodeId)).filter((r) => r.taskId === cron);
    expect(cronHeld.length, 'the victim holds cron occurrences too').toBeGreaterThan(0);

    const killedAt = Date.now();
    victim.kill('SIGKILL');
    expect(await victim.exited).toBeNull();

    const runs = await waitFinished(sql, ids, 30_000);
    await sleep(Math.max(0, cronEnd.getTime() + 1500 - Date.now()));
    const all = await allRuns(sql);
    expected.set(cron, everySecond(cronStart, cronEnd));
    expectExactlyOnce(all, expected);

    // the held one-time occurrences: fired by the survivor, on a second attempt, within 10 s
    for (const r of runs) {
      expect(r.nodeId).toBe(survivor.nodeId);
      expect(r.attempt).toBe(2);
      expect(r.lagMs!).toBeLessThan(10_000);
    }
    // and so were the cron occurrences the victim held when it died
    const rescued = all.filter((r) => cronHeld.some((h) => h.id === r.id));
    expect(rescued.length).toBe(cronHeld.length);
    for (const r of rescued) {
      expect(r.nodeId).toBe(survivor.nodeId);
      expect(r.lagMs!).toBeLessThan(10_000);
    }
    // nothing the victim held could have fired before its lease ran out
    const lags = [...runs, ...rescued].map((r) => r.lagMs!);
    const firstRescue = Math.min(...[...runs, ...rescued].map((r) => r.startedAt!.getTime()));
    console.log(
      `SIGKILL: ${runs.length + rescued.length} held occurrences rescued; first ${firstRescue - killedAt} ms after the kill; ` +
        `lag max ${Math.round(Math.max(...lags))} ms`,
    );
    // the cron kept firing on the survivor after the kill
    const after = all.filter((r) => r.taskId === cron && r.scheduledFor.getTime() > killedAt + 6000);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.nodeId === survivor.nodeId && r.lagMs! < 1000)).toBe(true);
  });
});
