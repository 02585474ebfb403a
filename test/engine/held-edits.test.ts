// Claim-ahead holds occurrences for up to a minute, so a change to a task must reach
// what a node already holds: an edit that keeps the occurrence (a new action) makes the
// held run fire as the task is now; a pause drops it. (A one-time task is `completed`
// from its claim, so it is edited or deleted then, not paused.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';
import { startReceiver, type Receiver } from '../webhooks/receiver.js';

let t: TestApp;
let rx: Receiver;
beforeAll(async () => {
  rx = await startReceiver();
  t = await startTestApp({ scheduler: { claimAheadMs: 45_000 }, webhooks: { allow: '127.0.0.1/32' } });
});
afterAll(async () => {
  await t?.stop();
  await rx?.close();
});

type Run = { id: string; status: string; nodeId: string | null; startedAt: string | null };
const runsOf = async (taskId: string) => (await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?taskId=${taskId}`)).body.items;

describe('edits reach held occurrences', () => {
  it('a held log run whose task became a webhook fires as a webhook', async () => {
    const at = new Date(Date.now() + 6000);
    const res = await api(t.url, 'POST', '/api/tasks', { name: 'becomes a webhook', schedule: { type: 'once', at: at.toISOString() } });
    expect(res.status).toBe(201);
    // claimed ahead and held, well before its time
    await eventually(async () => (await runsOf(res.body.id))[0]?.status === 'pending', 5000);
    const patched = await api(t.url, 'PATCH', `/api/tasks/${res.body.id}`, { action: { type: 'webhook', url: `${rx.url}/edited` } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const run = await eventually(async () => {
      const r = (await runsOf(res.body.id))[0];
      return r && r.status !== 'pending' && r.status !== 'running' ? r : undefined;
    }, 20_000);
    expect(run.status).toBe('succeeded');
    expect(rx.on('/edited')).toHaveLength(1);
    expect(rx.on('/edited')[0]!.at).toBeGreaterThanOrEqual(at.getTime() - 50);
  });

  it('a paused recurring task\'s held occurrence does not fire, and is not left in its history', async () => {
    const at = new Date(Math.ceil((Date.now() + 5000) / 1000) * 1000);
    const res = await api(t.url, 'POST', '/api/tasks', {
      name: 'paused while held',
      schedule: { type: 'cron', expression: `${at.getUTCSeconds()} ${at.getUTCMinutes()} * * * *` },
      action: { type: 'webhook', url: `${rx.url}/paused` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await eventually(async () => (await runsOf(res.body.id))[0]?.status === 'pending', 5000);
    expect((await api(t.url, 'POST', `/api/tasks/${res.body.id}/pause`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, at.getTime() - Date.now()) + 1500));
    expect(rx.on('/paused')).toHaveLength(0);
    // claimed ahead, not yet due when paused: removed, so a resume can claim that instant again
    expect(await runsOf(res.body.id)).toEqual([]);
  });
});
