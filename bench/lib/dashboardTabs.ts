/**
 * A child process of bench/dashboardLoad.ts: TABS headless Chromium tabs (DASHBOARD_TABS), signed in with
 * DASHBOARD_TOKEN on DASHBOARD_URL, reload the pages of DASHBOARD_PAGES (JSON [[hash, page name], …]) back to
 * back until SIGUSR2 (not SIGTERM: playwright kills the browser on that, mid-reload); then prints `{"loads": N}` and exits. Its own process, so the browser driver's work never
 * runs on the event loop of the server under measurement.
 */
import { launchBrowser } from '../../test/helpers/browser';

async function main(): Promise<void> {
  const url = process.env.DASHBOARD_URL!;
  const token = process.env.DASHBOARD_TOKEN!;
  const tabs = Number(process.env.DASHBOARD_TABS ?? 5);
  const pages = JSON.parse(process.env.DASHBOARD_PAGES ?? '[]') as Array<[string, string]>;
  const browser = await launchBrowser();
  let stop = false;
  let loads = 0;
  process.once('SIGUSR2', () => {
    stop = true;
  });
  const loops = Array.from({ length: tabs }, async (_, index) => {
    const { page } = await browser.newTab();
    await page.goto(`${url}/`);
    await page.fill('#token', token);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('[data-page="overview"][data-loaded="true"]');
    if (index === tabs - 1) process.stdout.write('ready\n');
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
  process.stdout.write(`${JSON.stringify({ loads })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
