// The web UI in a real browser (Debian's Chromium via playwright-core) against a real
// Sundial node on the suite's embedded PostgreSQL. Waits are on what the page shows or on
// the server's responses, never fixed sleeps, except where the point is that nothing
// happens (a paused task must stay quiet). Screenshots of every view go to docs/screenshots.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Run, RunPage, Task } from '../../src/shared/schemas.js';
import { instantToZonedWallTime } from '../../src/web/lib/time.js';
import { api, eventually, startNode, type TestNode } from '../support/node.js';
import { launchBrowser, newPage, screenshot } from './browser.js';

const ZONE = 'Europe/Berlin';

let node: TestNode;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** A webhook receiver on loopback: /ok answers 200, anything else 503. */
let receiver: Server;
let receiverUrl: string;
const received: { method: string; url: string; body: string }[] = [];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => resolve(body));
  });
}

beforeAll(async () => {
  receiver = createServer(async (req, res) => {
    received.push({ method: req.method!, url: req.url!, body: await readBody(req) });
    const ok = req.url!.startsWith('/ok');
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { received: true } : { error: 'maintenance' }));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  [node, browser] = await Promise.all([
    // The SSRF guard refuses loopback unless told otherwise; fast retries keep the test short.
    startNode({ env: { SUNDIAL_WEBHOOK_ALLOW: '127.0.0.1/32', SUNDIAL_WEBHOOK_RETRY_BASE_MS: '200' } }),
    launchBrowser(),
  ]);
  ({ context, page } = await newPage(browser));
});

afterAll(async () => {
  // A node that died under the test says why (its last log lines), instead of every later
  // step failing with ECONNREFUSED and nothing else.
  if (node && (node.process.exitCode !== null || node.process.signalCode !== null)) {
    console.error(`node ${node.nodeId} exited early (code ${node.process.exitCode}, signal ${node.process.signalCode}):\n${node.logs.slice(-40).join('\n')}`);
  }
  await context?.close();
  await browser?.close();
  await node?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

// ---- helpers -----------------------------------------------------------------------------

/** A text input by its visible label (Mantine's required asterisk is not part of the name). */
const field = (p: Page, label: string) => p.getByRole('textbox', { name: label, exact: true });

const nav = (p: Page, name: string) => p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

async function runsOf(taskId: string): Promise<Run[]> {
  const res = await api<RunPage>(node.url, 'GET', `/api/runs?taskId=${taskId}&limit=50`);
  return res.body.items;
}

/** The message shown under the input labelled `label` (Mantine's InputWrapper error). */
async function fieldError(p: Page, label: string): Promise<string> {
  const input = field(p, label);
  const wrapper = p.locator('.mantine-InputWrapper-root', { has: input }).last();
  const error = wrapper.locator('.mantine-InputWrapper-error');
  if ((await error.count()) === 0) return '';
  return (await error.innerText()).trim();
}

/** Milliseconds between consecutive occurrences listed in the schedule preview. */
async function occurrenceGaps(p: Page): Promise<number[]> {
  const ats = await p.getByTestId('occurrence').evaluateAll((els) => els.map((el) => el.getAttribute('data-at')!));
  return ats.slice(1).map((at, i) => Date.parse(at) - Date.parse(ats[i]!));
}

async function waitForGaps(p: Page, gapMs: number) {
  await eventually(async () => {
    const gaps = await occurrenceGaps(p);
    return gaps.length >= 4 && gaps.every((g) => g === gapMs);
  }, 15_000);
}

/** Id of the newest succeeded run in the run table on screen. */
const newestSucceeded = (p: Page) =>
  p.evaluate(() => document.querySelector('[data-run-id][data-status="succeeded"]')?.getAttribute('data-run-id') ?? null);

async function waitForNewRun(p: Page, after: string | null) {
  await p.waitForFunction(
    (prev) => {
      const id = document.querySelector('[data-run-id][data-status="succeeded"]')?.getAttribute('data-run-id');
      return Boolean(id && id !== prev);
    },
    after,
    { timeout: 15_000 },
  );
  return newestSucceeded(p);
}

/** Marks the document; if the page reloads, the mark is gone. */
const markDocument = (p: Page) => p.evaluate(() => ((window as unknown as { __sundialMark: boolean }).__sundialMark = true));
const documentMarked = (p: Page) => p.evaluate(() => (window as unknown as { __sundialMark?: boolean }).__sundialMark === true);

// ---- the three journeys --------------------------------------------------------------------

describe('web UI in Chromium', () => {
  it('creates a one-time task through the form and shows its execution, live', async () => {
    const name = `Remind me ${Date.now()}`;
    await page.goto(`${node.url}/tasks/new`);
    await field(page, 'Name').fill(name);

    // Ten seconds from now, on the Berlin wall clock (the browser's zone, the default).
    const due = new Date(Math.ceil((Date.now() + 10_000) / 1000) * 1000);
    const [date, time] = instantToZonedWallTime(due, ZONE).split(' ');
    await field(page, 'Date').fill(date!);
    await field(page, 'Time').fill(time!);
    // The form reads the choice back as an absolute instant.
    await page.getByTestId('once-readback').getByText(/^Fires/).waitFor();
    expect(await page.getByTestId('once-readback').innerText()).toContain(ZONE);

    const created = page.waitForResponse((r) => r.url().endsWith('/api/tasks') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create task' }).click();
    const response = await created;
    expect(response.status()).toBe(201);
    const task = (await response.json()) as Task;
    expect(task.schedule).toEqual({ type: 'once', at: due.toISOString() });
    await page.waitForURL(`**/tasks/${task.id}`);

    // Listed in Tasks.
    await nav(page, 'Tasks').click();
    await page.locator(`[data-task-id="${task.id}"]`).getByText(name).waitFor();

    // Executions shows it by itself when it fires: no reload, no click.
    await nav(page, 'Executions').click();
    await markDocument(page);
    const row = page.locator('tr[data-status="succeeded"]', { hasText: name });
    await row.waitFor({ timeout: 30_000 });
    expect(await documentMarked(page)).toBe(true);

    const [run] = await runsOf(task.id);
    expect(run?.status).toBe('succeeded');
    const executed = row.locator('[data-field="startedAt"] time');
    expect(await executed.getAttribute('datetime')).toBe(run!.startedAt);
    expect(await executed.innerText()).toMatch(/\d{2}:\d{2}:\d{2}\.\d{3}/);
  }, 90_000);

  it('runs a 6-field every-second task live, pauses, resumes, edits and deletes it', async () => {
    const name = `Every second ${Date.now()}`;
    await page.goto(`${node.url}/tasks/new`);
    await field(page, 'Name').fill(name);
    await page.getByText('Recurring (cron)').click();
    await field(page, 'Cron expression').fill('* * * * * *');
    await waitForGaps(page, 1000); // the server's preview, one second apart

    const created = page.waitForResponse((r) => r.url().endsWith('/api/tasks') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create task' }).click();
    const task = (await (await created).json()) as Task;
    await page.waitForURL(`**/tasks/${task.id}`);

    // Runs arrive in the history while we watch.
    let newest = await waitForNewRun(page, null);
    newest = await waitForNewRun(page, newest);
    newest = await waitForNewRun(page, newest);

    // Pause: the button flips, and after what was already in flight, no new run starts.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    let settled = await newestSucceeded(page);
    await eventually(async () => {
      const before = await newestSucceeded(page);
      await page.waitForTimeout(2_000);
      const after = await newestSucceeded(page);
      settled = after;
      return before === after;
    }, 15_000, 0);
    const quietSince = Date.now();
    await page.waitForTimeout(3_000); // the point: nothing happens
    expect(await newestSucceeded(page)).toBe(settled);
    const started = (await runsOf(task.id)).filter((r) => r.startedAt && Date.parse(r.startedAt) > quietSince);
    expect(started).toEqual([]);

    // Resume: runs come back.
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await waitForNewRun(page, settled);

    // Edit the schedule: the preview follows the expression as it is typed.
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.waitForURL(`**/tasks/${task.id}/edit`);
    await waitForGaps(page, 1000);
    await field(page, 'Cron expression').fill('*/5 * * * * *');
    await waitForGaps(page, 5000);
    const description = await page.getByTestId('schedule-description').innerText();
    const saved = page.waitForResponse((r) => r.url().endsWith(`/api/tasks/${task.id}`) && r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Save changes' }).click();
    expect((await saved).status()).toBe(200);
    await page.waitForURL(`**/tasks/${task.id}`);
    await waitForGaps(page, 5000); // the task's upcoming occurrences changed
    expect(await page.getByText(description).first().isVisible()).toBe(true);

    // Delete, after confirming.
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete task' }).click();
    await page.waitForURL(/\/tasks$/);
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect(await page.locator(`[data-task-id="${task.id}"]`).count()).toBe(0);
    expect((await api(node.url, 'GET', `/api/tasks/${task.id}`)).status).toBe(404);
  }, 120_000);

  it("shows the server's errors beside the field they name", async () => {
    await page.goto(`${node.url}/tasks/new`);
    await field(page, 'Name').fill('Broken on purpose');

    // An invalid cron expression: the live preview's 400 appears under the expression.
    await page.getByText('Recurring (cron)').click();
    const previewRejected = page.waitForResponse((r) => r.url().includes('/api/schedules/preview') && r.status() === 400);
    await field(page, 'Cron expression').fill('61 25 * * *');
    const previewError = ((await (await previewRejected).json()) as { error: { message: string } }).error.message;
    await eventually(async () => (await fieldError(page, 'Cron expression')) === previewError, 10_000);
    expect(await field(page, 'Cron expression').getAttribute('aria-invalid')).toBe('true');

    // And on submit, the POST's own error lands there too.
    const postRejected = page.waitForResponse((r) => r.url().endsWith('/api/tasks') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create task' }).click();
    const post = await postRejected;
    expect(post.status()).toBe(400);
    const postBody = (await post.json()) as { error: { code: string; message: string; details: { field: string } } };
    expect(postBody.error.details.field).toBe('schedule.expression');
    await eventually(async () => (await fieldError(page, 'Cron expression')) === postBody.error.message, 10_000);

    // A one-time task in the past: SCHEDULE_IN_PAST under the date.
    await page.getByText('One-time', { exact: true }).click();
    const [yesterday] = instantToZonedWallTime(new Date(Date.now() - 86_400_000), ZONE).split(' ');
    await field(page, 'Date').fill(yesterday!);
    await field(page, 'Time').fill('09:00:00');
    await page.getByTestId('once-readback').getByText(/^Was due/).waitFor();
    const pastRejected = page.waitForResponse((r) => r.url().endsWith('/api/tasks') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create task' }).click();
    const past = (await (await pastRejected).json()) as { error: { code: string; message: string } };
    expect(past.error.code).toBe('SCHEDULE_IN_PAST');
    await eventually(async () => (await fieldError(page, 'Date')) === past.error.message, 10_000);
    // Nothing was created.
    expect((await api<{ items: Task[] }>(node.url, 'GET', '/api/tasks?q=Broken')).body.items).toEqual([]);
  }, 60_000);

  it('creates a webhook task through the form and shows the HTTP attempt on its run', async () => {
    const name = `Webhook ${Date.now()}`;
    await page.goto(`${node.url}/tasks/new`);
    await field(page, 'Name').fill(name);
    const due = new Date(Math.ceil((Date.now() + 10_000) / 1000) * 1000);
    const [date, time] = instantToZonedWallTime(due, ZONE).split(' ');
    await field(page, 'Date').fill(date!);
    await field(page, 'Time').fill(time!);
    await page.getByText('Call a webhook').click();
    await field(page, 'URL').fill(`${receiverUrl}/ok/${encodeURIComponent(name)}`);
    await field(page, 'Body (optional)').fill('{"text": "stand up"}');

    const created = page.waitForResponse((r) => r.url().endsWith('/api/tasks') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create task' }).click();
    const task = (await (await created).json()) as Task;
    expect(task.action).toMatchObject({ type: 'webhook', method: 'POST', body: { text: 'stand up' } });
    await page.waitForURL(`**/tasks/${task.id}`);
    await page.getByText(`POST ${receiverUrl}/ok/`).waitFor();

    // The run appears in the task's history with its delivery, and the receiver got the call.
    const summary = page.locator('[data-run-id][data-status="succeeded"]').getByRole('button', { name: 'HTTP 200 · 1 attempt' });
    await summary.waitFor({ timeout: 30_000 });
    expect(received.some((r) => r.url.includes(encodeURIComponent(name)) && JSON.parse(r.body).text === 'stand up')).toBe(true);
    await summary.click();
    await page.getByText('Webhook attempts').waitFor();
    await page.getByText('{"received":true}').waitFor();
    await page.keyboard.press('Escape');
  }, 60_000);

  // ---- screenshots of every view, with a second node that dies ----------------------------

  it('shows every view, and a node dying while the other carries on (screenshots)', async () => {
    const soon = (ms: number) => new Date(Date.now() + ms).toISOString();
    const create = (body: unknown) => api<Task>(node.url, 'POST', '/api/tasks', body);
    const heartbeat = (await create({ name: 'Health check: api.example.com', schedule: { type: 'cron', expression: '*/2 * * * * *', timezone: 'UTC' }, payload: { url: 'https://api.example.com/healthz', expect: 200 } })).body;
    await create({ name: 'Weekly digest email', schedule: { type: 'cron', expression: '0 9 * * 1', timezone: 'Europe/Berlin' }, payload: { template: 'digest', audience: 'all-users' } });
    const backup = (await create({ name: 'Nightly database backup', schedule: { type: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin', startAt: '2027-03-26T00:00:00+01:00' }, misfirePolicy: 'skip' })).body;
    await create({ name: 'Send invoice reminders', schedule: { type: 'cron', expression: '0 8 * * 1-5', timezone: 'America/New_York' } });
    await create({ name: 'Renew TLS certificate', schedule: { type: 'once', at: soon(3 * 86_400_000) } });
    await create({ name: 'Remind Ana about the demo', schedule: { type: 'once', at: soon(5_000) } });
    const paused = (await create({ name: 'Rebuild search index', schedule: { type: 'cron', expression: '0 */6 * * *' } })).body;
    await create({ name: 'Post stand-up reminder to chat', schedule: { type: 'cron', expression: '*/5 * * * * *' }, action: { type: 'webhook', url: `${receiverUrl}/ok/standup`, body: { text: 'Stand-up in 5 minutes' } } });
    await create({ name: 'Sync CRM contacts', schedule: { type: 'once', at: soon(4_000) }, action: { type: 'webhook', url: `${receiverUrl}/crm/sync`, maxAttempts: 2, timeoutMs: 2000 } });
    await api(node.url, 'POST', `/api/tasks/${paused.id}/pause`);
    await eventually(async () => (await runsOf(heartbeat.id)).filter((r) => r.status === 'succeeded').length >= 3, 20_000);
    // The CRM endpoint answers 503: two attempts, then the run fails.
    await eventually(async () => (await api<RunPage>(node.url, 'GET', '/api/runs?status=failed')).body.items.length > 0, 30_000);

    await page.goto(`${node.url}/`);
    await page.getByText('Health check: api.example.com').first().waitFor();
    await screenshot(page, 'overview');

    await nav(page, 'Tasks').click();
    await page.locator(`[data-task-id="${backup.id}"]`).waitFor();
    await screenshot(page, 'tasks');

    await page.goto(`${node.url}/tasks/${heartbeat.id}`);
    await page.locator('[data-run-id][data-status="succeeded"]').first().waitFor();
    await screenshot(page, 'task-detail');

    // The edit form of a task whose upcoming runs cross the 2027 DST change in Berlin.
    await page.goto(`${node.url}/tasks/${backup.id}/edit`);
    await page.getByTestId('occurrence').first().waitFor();
    await page.getByText(/DST/).first().waitFor();
    await screenshot(page, 'task-form-recurring');

    await page.goto(`${node.url}/tasks/new`);
    await field(page, 'Name').fill('Call the dentist');
    await page.getByRole('button', { name: 'tomorrow 09:00' }).click();
    await screenshot(page, 'task-form-once');

    await nav(page, 'Executions').click();
    await page.locator('tr[data-status="succeeded"]').first().waitFor();
    await screenshot(page, 'executions');

    // A second node joins; then it is killed. The view shows it die, and the first node
    // keeps firing the every-2-seconds task.
    const second = await startNode({ databaseUrl: node.databaseUrl });
    // Someone has the UI open on the second node: when it dies, their page says so.
    const watcher = await newPage(browser);
    try {
      await watcher.page.goto(`${second.url}/tasks`);
      await watcher.page.locator(`[data-task-id="${backup.id}"]`).waitFor();
      await watcher.page.locator('[data-live="live"]').waitFor();
      await nav(page, 'Cluster').click();
      await page.locator('[data-alive="true"]').nth(1).waitFor({ timeout: 15_000 });
      second.kill('SIGKILL');
      await watcher.page.locator('[data-live="reconnecting"]').waitFor();
      await watcher.page.getByText("Can't reach the Sundial server").waitFor({ timeout: 20_000 });
      await screenshot(watcher.page, 'server-down');
      await page.locator(`[data-node-id="${second.nodeId}"][data-alive="false"]`).waitFor({ timeout: 20_000 });
      const killedAt = Date.now();
      await eventually(async () => (await runsOf(heartbeat.id)).some((r) => r.status === 'succeeded' && r.nodeId === node.nodeId && Date.parse(r.startedAt!) > killedAt), 15_000);
      await screenshot(page, 'cluster');
    } finally {
      await watcher.context.close();
      second.kill('SIGKILL');
      await second.exited;
    }

    // A phone, and the dark theme (it follows the system setting).
    const phone = await newPage(browser, { width: 390, height: 844 });
    await phone.page.goto(`${node.url}/executions`);
    await phone.page.locator('[data-run-id][data-status="succeeded"]').first().waitFor();
    await screenshot(phone.page, 'executions-phone');
    await phone.page.goto(`${node.url}/tasks`);
    await phone.page.locator(`[data-task-id="${backup.id}"]`).waitFor();
    await screenshot(phone.page, 'tasks-phone');
    await phone.context.close();

    const dark = await newPage(browser, { colorScheme: 'dark' });
    await dark.page.goto(`${node.url}/tasks/${heartbeat.id}`);
    await dark.page.locator('[data-run-id][data-status="succeeded"]').first().waitFor();
    await screenshot(dark.page, 'task-detail-dark');
    await dark.context.close();
  }, 150_000);
});
