// Launches Debian's Chromium through playwright-core for the browser tests: no browser
// download, a fresh profile per launch, and none of Chromium's own background traffic.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * The committed pictures in docs/screenshots are rewritten only on request
 * (`UPDATE_SCREENSHOTS=1 npm test`, like Playwright's --update-snapshots): a plain test run
 * still takes every picture, into a temporary directory, and leaves the working tree clean.
 */
export const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
export const SCREENSHOT_DIR = UPDATE_SCREENSHOTS
  ? join(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots')
  : join(tmpdir(), 'sundial-screenshots');

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `No Chromium found (looked at ${candidates.join(', ')}). The browser tests drive a real Chromium: ` +
        'install it with `apt-get install -y chromium`, or point CHROMIUM_PATH at a Chromium or Chrome binary.',
    );
  }
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  // launch() gives every run a fresh temporary user-data-dir and removes it on close.
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      // the native time input takes its 12/24-hour format from the browser's UI language
      '--lang=en-GB',
    ],
  });
}

export interface ViewOptions {
  width?: number;
  height?: number;
  colorScheme?: 'light' | 'dark';
}

/**
 * A page as a person in Berlin would see it (a zone that is not UTC, so conversions show),
 * with a 24-hour English locale so the native time input reads HH:mm:ss.
 */
export async function newPage(browser: Browser, opts: ViewOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: opts.colorScheme ?? 'light',
    timezoneId: 'Europe/Berlin',
    locale: 'en-GB',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { context, page };
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // Let tooltips close and transitions settle so the picture shows the view, not a blink.
  await page.mouse.move(0, 0);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage });
}
