// The UI against a node that requires a token: it asks for one, refuses a wrong one, keeps
// the right one across reloads, opens the event stream with it, shows a read-only token's
// 403 as a message, and signs out. Also: the Content-Security-Policy (no inline script)
// does not break the UI or the API reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, startNode, type TestNode } from '../support/node.js';
import { launchBrowser, newPage, screenshot } from './browser.js';

const ADMIN = 'browser-admin-token-0123456789';
const READ = 'browser-read-token-0123456789';

let node: TestNode;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const cspViolations: string[] = [];

beforeAll(async () => {
  [node, browser] = await Promise.all([startNode({ env: { SUNDIAL_API_TOKEN: ADMIN, SUNDIAL_READ_TOKEN: READ } }), launchBrowser()]);
  ({ context, page } = await newPage(browser));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await node?.stop();
});

const dialog = (p: Page) => p.getByRole('dialog', { name: 'Sign in to Sundial' });
const tokenField = (p: Page) => p.getByLabel('API token');

describe('signing in to the web UI', () => {
  it('asks for a token, refuses a wrong one, keeps the right one, and streams events with it', async () => {
    const task = await api(node.url, 'POST', '/api/tasks', { name: 'Behind the login', schedule: { type: 'cron', expression: '0 9 * * *' } }, { authorization: `Bearer ${ADMIN}` });
    expect(task.status).toBe(201);

    await page.goto(`${node.url}/tasks`);
    await dialog(page).waitFor();
    await tokenField(page).fill('not-the-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await dialog(page).getByText('This token was not accepted.').waitFor();
    await screenshot(page, 'sign-in');

    await tokenField(page).fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await dialog(page).waitFor({ state: 'hidden' });
    await page.getByText('Behind the login').waitFor();
    // the event stream connected with ?access_token=
    await page.getByText('Live', { exact: true }).waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => localStorage.getItem('sundial.apiToken'))).toBe(ADMIN);

    // a reload does not ask again
    await page.reload();
    await page.getByText('Behind the login').waitFor();
    expect(await dialog(page).isVisible()).toBe(false);
  });

  it('a read-only token sees everything and is told it cannot change anything', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await dialog(page).waitFor();
    await tokenField(page).fill(READ);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await dialog(page).waitFor({ state: 'hidden' });
    await page.getByText('Behind the login').click();
    await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/);
    const refused = page.waitForResponse((r) => /\/api\/tasks\/[^/]+\/trigger$/.test(r.url()));
    await page.getByRole('button', { name: /run now/i }).first().click();
    expect((await refused).status()).toBe(403);
    await page.getByText(/read-only/i).first().waitFor();
  });

  it('a stored token that stops working asks again', async () => {
    await page.evaluate(() => localStorage.setItem('sundial.apiToken', 'revoked-token-revoked-token'));
    await page.goto(`${node.url}/`);
    await dialog(page).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('sundial.apiToken'))).toBeNull();
    await tokenField(page).fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await dialog(page).waitFor({ state: 'hidden' });
  });

  it('the API reference works under the Content-Security-Policy, and nothing was refused', async () => {
    await page.goto(`${node.url}/api/docs`);
    await page.getByRole('button', { name: /Authorize/ }).waitFor();
    await page.getByText('/api/tasks', { exact: true }).first().waitFor();
    expect(cspViolations).toEqual([]);
  });
});
