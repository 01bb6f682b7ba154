/**
 * Headless Chromium for the dashboard tests and benchmark: Debian's `chromium` (.ci/run installs it) driven by
 * playwright-core, which downloads no browser of its own. Each launch gets a fresh profile under the temp dir,
 * and every page records its console errors and uncaught exceptions, so a test can require there were none.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.WORKSCHED_CHROMIUM ?? '/usr/bin/chromium';

/** Quiet, offline, reproducible: no sandbox (root on CI), no GPU, no QUIC, no background traffic or updates. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where the tests leave what a person would look at (screenshots); gitignored. */
export const TEST_OUTPUT_DIR = path.resolve(__dirname, '..', '..', 'test-output');

export interface Browser {
  context: BrowserContext;
  /** A new tab; its console errors and page errors are collected in `errors`. */
  newTab(): Promise<Tab>;
  close(): Promise<void>;
}

export interface Tab {
  page: Page;
  /** "console error: …" / "page error: …", in the order they happened. */
  errors: string[];
}

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set WORKSCHED_CHROMIUM`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-chromium-'));
  // playwright passes the profile as --user-data-dir itself (it refuses one in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 1000 },
  });
  for (const page of context.pages()) await page.close();
  return {
    context,
    async newTab() {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console error: ${message.text()} (${message.location().url})`);
      });
      page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
      return { page, errors };
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as test-output/<folder>/<name>.png; returns its path. */
export async function screenshot(page: Page, folder: string, name: string): Promise<string> {
  const file = path.join(TEST_OUTPUT_DIR, folder, `${name}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Opens the dashboard and signs in with `token` through its form. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('[data-page="overview"][data-loaded="true"]');
}

/** Goes to a page of the dashboard (a hash such as '#/requests/3') and waits until that page (data-page) has drawn. */
export async function openPage(page: Page, hash: string, pageName: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.waitForSelector(`[data-page="${pageName}"][data-loaded="true"]`);
}
