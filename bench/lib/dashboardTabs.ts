/**
 * A child process of bench/dashboardLoad.ts: TABS headless Chromium tabs (DASHBOARD_TABS), signed in with
 * DASHBOARD_TOKEN on DASHBOARD_URL, reload the pages of DASHBOARD_PAGES (JSON [[hash, page name], …]) back to
 * back until SIGUSR2 (not SIGTERM: playwright kills the browser on that, mid-reload); then prints
 * `{"loads": N, "requests": M}` (M: API requests the tabs made after `ready`) and exits. With DASHBOARD_MODE=open
 * each tab instead opens one of those pages (tab i the i-th) and leaves it open: the page refreshes itself, as a
 * tab an operator keeps open does. Its own process, so the browser driver's work never runs on the event loop
 * of the server under measurement.
 * With DASHBOARD_RECORD (a file): every API request and page document the tabs fetch after they signed in,
 * written there on exit as JSON lines `{t, method, path, headers, tab}` (t: ms since `ready`), for
 * bench/lib/replayRequests.ts to send again without a browser.
 */
import fs from 'node:fs';
import type { Request } from 'playwright-core';
import { launchBrowser } from '../../test/helpers/browser';

export interface RecordedRequest {
  t: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  tab: number;
}

async function main(): Promise<void> {
  const url = process.env.DASHBOARD_URL!;
  const token = process.env.DASHBOARD_TOKEN!;
  const tabs = Number(process.env.DASHBOARD_TABS ?? 5);
  const pages = JSON.parse(process.env.DASHBOARD_PAGES ?? '[]') as Array<[string, string]>;
  const recordTo = process.env.DASHBOARD_RECORD;
  const keepOpen = process.env.DASHBOARD_MODE === 'open';
  const browser = await launchBrowser();
  let stop = false;
  let loads = 0;
  let apiRequests = 0;
  let readyAt: number | undefined;
  let tabsReady = 0;
  let stopped: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (stopped = resolve));
  const recorded: RecordedRequest[] = [];
  const record = (tab: number) => (request: Request) => {
    if (readyAt === undefined) return;
    const url = new URL(request.url());
    if (url.origin !== new URL(url).origin) return;
    if (url.pathname.startsWith('/api/')) apiRequests += 1;
    if (!recordTo) return;
    // The modules are cached for good (asked for by content hash): a reload fetches the page and the API only.
    if (request.resourceType() !== 'document' && !url.pathname.startsWith('/api/') && url.pathname !== '/metrics') return;
    const headers = Object.fromEntries(Object.entries(request.headers()).filter(([name]) => ['authorization', 'accept', 'if-none-match'].includes(name)));
    recorded.push({ t: performance.now() - readyAt, method: request.method(), path: url.pathname + url.search, headers, tab });
  };
  process.once('SIGUSR2', () => {
    stop = true;
    stopped();
  });
  const loops = Array.from({ length: tabs }, async (_, index) => {
    const { page } = await browser.newTab();
    page.on('request', record(index));
    await page.goto(`${url}/`);
    await page.fill('#token', token);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('[data-page="overview"][data-loaded="true"]');
    if (keepOpen) {
      const [hash, name] = pages[index % pages.length];
      await page.goto(`${url}/${hash}`);
      await page.reload();
      await page.waitForSelector(`[data-page="${name}"][data-loaded="true"]`);
      loads += 1;
    }
    tabsReady += 1;
    if (tabsReady === tabs) {
      readyAt = performance.now();
      process.stdout.write('ready\n');
    }
    if (keepOpen) return stopping;
    for (let round = index; !stop; round += 1) {
      const [hash, name] = pages[round % pages.length];
      await page.goto(`${url}/${hash}`);
      await page.reload();
      await page.waitForSelector(`[data-page="${name}"][data-loaded="true"]`);
      loads += 1;
    }
  });
  await Promise.allSettled(loops);
  await browser.close();
  if (recordTo) fs.writeFileSync(recordTo, recorded.map((entry) => JSON.stringify(entry)).join('\n'));
  process.stdout.write(`${JSON.stringify({ loads, requests: apiRequests })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
