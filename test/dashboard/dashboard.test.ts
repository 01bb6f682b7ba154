/**
 * The dashboard in a real browser (headless Chromium through playwright-core) against a real server with a real
 * worker: sign in through the form (the token stays out of the URL), a finished request's statistics, a live log
 * that grows while the task runs, a cancel from the page, a task plot with one point per run, and every page
 * drawn without a console error, a workflow's dependency graph (dagre) coloured by status, a run's workers and
 * its spend over time against its budget, a schedule's next fire times and a firing from the page; a screenshot
 * of each page goes to test-output/dashboard/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { RunSpend } from '../../protocol/runs';
import type { WorkRequest } from '../../protocol/workRequest';
import { cleanup, shellTask, startServerAndWorker, tmpDir, uniqueName, waitForEnd, waitForRequest, type E2EServer } from '../e2e/support';
import { launchBrowser, openPage, screenshot, signIn, type Browser, type Tab } from '../helpers/browser';
import { httpRequest } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import type { WorkerProcess } from '../helpers/workerProcess';

let server: E2EServer;
let worker: WorkerProcess;
let browser: Browser;
let operatorToken: string;
let tab: Tab;
let page: Page;

beforeAll(async () => {
  // A price, so the run test's attempts cost something (3600/h: 1 per second of work).
  ({ server, worker } = await startServerAndWorker({ concurrency: 2, env: { WORKSCHED_COST_PER_HOUR: '3600' } }));
  operatorToken = (await server.client.createToken('operator', 'dashboard test')).token;
  browser = await launchBrowser();
  tab = await browser.newTab();
  page = tab.page;
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await cleanup(server);
});

const FOLDER = 'dashboard';

test('a wrong token is refused on the form; the operator token signs in and is kept for the tab only, never in the URL', async () => {
  await page.goto(`${server.url}/`);
  // The login page keeps what the old start page offered: the API description, health and the CLI.
  expect(await page.getAttribute('a[href="/api/v1/openapi.json"]', 'href')).toBe('/api/v1/openapi.json');
  expect(await page.textContent('#login')).toContain('npx worksched');
  await screenshot(page, FOLDER, 'login');

  await page.fill('#token', 'not-a-token');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#login-error:has-text("refused")');
  tab.errors.length = 0; // the refused token's 401 is logged by the browser; it is what this step is about

  await signIn(page, server.url, operatorToken);
  expect(page.url()).not.toContain(operatorToken);
  expect(await page.evaluate('sessionStorage.getItem("worksched.token")')).toBe(operatorToken);
  expect(await page.evaluate('localStorage.length + document.cookie.length')).toBe(0);
  expect(tab.errors).toEqual([]);
});

test("a finished request's page shows its runtime statistics, requirements, output_data and log", async () => {
  const taskName = uniqueName('dash-finished');
  const created = await server.client.createWorkRequest(
    shellTask('echo finished-output; head -c 3000000 /dev/zero > blob', { task_name: taskName, resources: { memory: '1MiB' } }),
  );
  const done = await waitForEnd(server.client, created.id);
  expect(done.result).toBe('success');

  await openPage(page, `#/requests/${created.id}`, 'requests-detail');
  const stats = page.locator('[data-section="runtime-statistics"]');
  for (const name of ['duration', 'cpu_time', 'memory', 'disk_space']) expect(await stats.textContent()).toContain(name);
  // The disk figure the worker measured, as the page states it in bytes.
  expect(await stats.textContent()).toContain(`${done.output_data?.runtime_statistics?.disk_space} B`);
  expect(await page.textContent('[data-section="explicit-requirements"]')).toContain('1 MiB');
  expect(await page.textContent('[data-section="output-data"]')).toContain('"runtime_statistics"');
  await page.waitForSelector(`[data-log="${created.id}"]:has-text("finished-output")`);
  expect(await page.textContent('[data-section="state"]')).toContain('completed');
  await screenshot(page, FOLDER, 'work-request-finished');
  expect(tab.errors).toEqual([]);
});

test('the log of a running request grows on the page as the task writes, and the page sees it end', async () => {
  const trigger = path.join(tmpDir('dash-trigger'), 'go');
  const created = await server.client.createWorkRequest(
    shellTask(`echo first-line; while [ ! -f ${trigger} ]; do sleep 0.1; done; echo second-line`, { task_name: uniqueName('dash-live') }),
  );
  await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running');
  await openPage(page, `#/requests/${created.id}`, 'requests-detail');
  const log = `[data-log="${created.id}"]`;
  await page.waitForSelector(`${log}[data-following="true"]:has-text("first-line")`);
  expect(await page.textContent(log)).not.toContain('second-line');
  await screenshot(page, FOLDER, 'work-request-live-log');

  fs.writeFileSync(trigger, '');
  // No reload: the NDJSON stream brings the line, then ends with the request, and the page shows the result.
  await page.waitForSelector(`${log}:has-text("second-line")`);
  await page.waitForSelector(`${log}[data-following="false"]`);
  await page.waitForSelector('[data-section="state"] .badge.success');
  expect(tab.errors).toEqual([]);
});

test('cancel from the page asks first; OK aborts the running request and its worker stops it', async () => {
  const created = await server.client.createWorkRequest(shellTask('sleep 60', { task_name: uniqueName('dash-cancel') }));
  await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running');
  await openPage(page, `#/requests/${created.id}`, 'requests-detail');

  // Cancel in the dialog changes nothing.
  await page.click('[data-action="cancel"]');
  await page.waitForSelector('dialog#confirm[open]');
  expect(await page.textContent('#confirm-text')).toContain(`Cancel work request ${created.id}`);
  await page.click('dialog#confirm button[value="cancel"]');
  expect((await server.client.getWorkRequest(created.id)).status).toBe('running');

  await page.click('[data-action="cancel"]');
  await page.click('#confirm-ok');
  const aborted = await waitForRequest(server.client, created.id, (request: WorkRequest) => request.status === 'aborted', 'aborted');
  expect(aborted.status).toBe('aborted');
  await page.waitForSelector('[data-section="state"] .badge.aborted');
  expect(await page.locator('[data-action="cancel"]').count()).toBe(0);
  await screenshot(page, FOLDER, 'work-request-cancelled');
  expect(tab.errors).toEqual([]);
});

test('retry from the page (the server has the route) makes a new attempt that supersedes the ended one', async () => {
  const created = await server.client.createWorkRequest(shellTask('exit 3', { task_name: uniqueName('dash-retry'), max_attempts: 1 }));
  expect((await waitForEnd(server.client, created.id)).result).toBe('failure');
  await openPage(page, `#/requests/${created.id}`, 'requests-detail');
  await page.click('[data-action="retry"]');
  expect(await page.textContent('#confirm-text')).toContain(`Retry work request ${created.id}`);
  await page.click('#confirm-ok');
  const retried = await waitForRequest(server.client, created.id, (request) => request.superseded_by !== null, 'superseded');
  await page.waitForSelector(`[data-message]:has-text("new attempt")`);
  expect(await page.locator('[data-action="retry"]').count()).toBe(0);
  const attempt = await server.client.getWorkRequest(retried.superseded_by!);
  expect(attempt.supersedes).toBe(created.id);
  expect(tab.errors).toEqual([]);
});

test("a task key's plots have one point per run, failures included, and p50/p95 lines", async () => {
  const taskName = uniqueName('dash-plot');
  const outcomes = [0, 0, 0, 1, 0];
  for (const code of outcomes) {
    // max_attempts 1: the failure is one run, not a retry chain. cpu 1: a learned cpu need (cpu time / duration
    // of such short runs on a loaded machine) must not make the next run wait for a bigger worker.
    const created = await server.client.createWorkRequest(
      shellTask(`head -c 2000000 /dev/zero > blob; exit ${code}`, { task_name: taskName, max_attempts: 1, resources: { cpu: 1 } }),
    );
    await waitForEnd(server.client, created.id);
  }
  await openPage(page, `#/tasks/key?task_name=${taskName}`, 'tasks-detail');
  for (const chart of ['duration', 'cpu-time', 'memory', 'disk']) {
    expect({ chart, points: await page.getAttribute(`[data-chart="${chart}"]`, 'data-points') }).toEqual({ chart, points: String(outcomes.length) });
  }
  const legend = await page.textContent('[data-chart="duration"]');
  expect(legend).toContain('p50');
  expect(legend).toContain('p95');
  expect(legend).toContain('failed runs');
  expect(await page.locator('[data-table="runs"] tbody tr').count()).toBe(outcomes.length);
  await screenshot(page, FOLDER, 'task-key');

  // The statistics table lists the key and links to the same page.
  await openPage(page, '#/tasks', 'tasks');
  await page.click(`[data-table="tasks"] a:text-is("${taskName}")`);
  await page.waitForSelector('[data-page="tasks-detail"][data-loaded="true"]');
  expect(await page.getAttribute('[data-chart="memory"]', 'data-points')).toBe(String(outcomes.length));
  expect(tab.errors).toEqual([]);
});

test("a diamond workflow's page draws its 4 tasks as a graph coloured by each task's state, with its tasks and metadata", async () => {
  const workflowId = uniqueName('dash-diamond');
  const step = (taskId: string, script: string, dependsOn: string[] = []) => ({
    ...shellTask(script, { task_name: uniqueName(`dash-${taskId}`), max_attempts: 1 }), task_id: taskId, depends_on: dependsOn,
  });
  // c fails, so d is skipped: the graph holds three states (a and b succeed, c failed, d skipped); the workflow ends FAILED.
  await server.client.createWorkflow({
    workflow_id: workflowId,
    user_metadata: { purpose: 'dashboard test' },
    tasks: [step('a', 'true'), step('b', 'true', ['a']), step('c', 'exit 1', ['a']), step('d', 'true', ['b', 'c'])],
  });
  const done = await server.client.waitForWorkflow(workflowId, { timeoutMs: 60_000, intervalMs: 200 });
  expect(done.status).toBe('FAILED');

  await openPage(page, `#/workflows/${workflowId}`, 'workflows-detail');
  const graph = page.locator('[data-graph="workflow"]');
  expect(await graph.locator('[data-node]').count()).toBe(4);
  expect(await graph.locator('[data-edge]').count()).toBe(4);
  const states: Record<string, string | null> = {};
  const fills: Record<string, string | null> = {};
  for (const taskId of ['a', 'b', 'c', 'd']) {
    const node = graph.locator(`[data-node="${taskId}"]`);
    states[taskId] = await node.getAttribute('data-state');
    fills[taskId] = await node.locator('rect').getAttribute('fill');
  }
  expect(states).toEqual({ a: 'success', b: 'success', c: 'failure', d: 'skipped' });
  expect(fills.a).toBe(fills.b);
  expect(new Set([fills.a, fills.c, fills.d]).size).toBe(3);
  // Layers: a on top, b and c side by side, d below them.
  const top = async (taskId: string) => Number(await graph.locator(`[data-node="${taskId}"] rect`).getAttribute('y'));
  expect(await top('a')).toBeLessThan(await top('b'));
  expect(await top('b')).toBe(await top('c'));
  expect(await top('c')).toBeLessThan(await top('d'));
  expect(await page.locator('[data-table="workflow-tasks"] tbody tr').count()).toBe(4);
  expect(await page.textContent('[data-section="workflow-metadata"]')).toContain('dashboard test');
  // A FAILED workflow offers resume (asked first; Cancel leaves it as it is), not cancel.
  expect(await page.locator('[data-action="cancel-workflow"]').count()).toBe(0);
  await page.click('[data-action="resume-workflow"]');
  expect(await page.textContent('#confirm-text')).toContain(`Resume workflow ${workflowId}`);
  await page.click('dialog#confirm button[value="cancel"]');
  expect((await server.client.getWorkflow(workflowId)).status).toBe('FAILED');
  await screenshot(page, FOLDER, 'workflow');

  await openPage(page, '#/workflows?status=FAILED', 'workflows');
  expect(await page.textContent('[data-table="workflows"]')).toContain(workflowId);
  await screenshot(page, FOLDER, 'workflows');
  await openPage(page, '#/workflows?status=SUCCESSFUL', 'workflows');
  expect(await page.locator(`[data-table="workflows"] a:text-is("${workflowId}")`).count()).toBe(0);
  expect(tab.errors).toEqual([]);
});

test("an open run's page lists the workers that ran its tasks with their cost", async () => {
  const runId = uniqueName('dash-run');
  await server.client.createWorkflow({ workflow_id: runId, open: true, budget: '100/h', tasks: [{ ...shellTask('true', { task_name: uniqueName('dash-run-task') }), task_id: 'one' }] });
  await pollUntil(() => server.client.getWorkflow(runId), { description: 'the run task done', until: (run) => run.task_counts.completed === 1, timeoutMs: 30_000 });
  await openPage(page, '#/runs', 'runs');
  await page.click(`[data-table="runs"] a:text-is("${runId}")`);
  await page.waitForSelector('[data-page="runs-detail"][data-loaded="true"]');
  expect(await page.textContent('[data-table="run-workers"]')).toContain(worker.options.name);
  expect(await page.textContent('[data-card="budget"]')).toContain('/ 100');
  // Spend over time against the budget: both series over every step of the hour (GET …/spend), the budget a line.
  const spend = await httpRequest<RunSpend>(server.url, 'GET', `/api/v1/workflows/${runId}/spend?window=1h`, { token: operatorToken });
  expect(spend.body.steps).toHaveLength(60);
  expect(spend.body.steps.reduce((total, step) => total + step.cost, 0)).toBeGreaterThan(0);
  const chart = page.locator('[data-chart="spend"]');
  expect(await chart.getAttribute('data-points')).toBe(String(2 * spend.body.steps.length));
  const legend = await chart.locator('.u-legend').textContent();
  expect(legend).toContain('spent in the trailing hour');
  expect(legend).toContain('budget 100/h');
  await page.click('a:text-is("[24h]")');
  await page.waitForSelector('[data-page="runs-detail"][data-loaded="true"] [data-chart="spend"][data-points="192"]');
  await screenshot(page, FOLDER, 'run');
  await server.client.closeWorkflow(runId);
  expect(tab.errors).toEqual([]);
});

test("the schedules page shows a schedule's next fire times, and fire now (asked first) makes a firing it then shows", async () => {
  const name = uniqueName('dash-new-year');
  // Once a year (midnight of 1 January, UTC): it does not fire by itself while the test runs.
  const created = await httpRequest<{ next_fire_times: string[] }>(server.url, 'POST', '/api/v1/schedules', {
    token: operatorToken,
    body: { name, trigger: { cron: '0 0 1 1 *', timezone: 'UTC' }, spec: shellTask('true', { task_name: uniqueName('dash-scheduled') }) },
  });
  expect(created.status).toBe(201);
  await openPage(page, '#/schedules', 'schedules');
  expect(await page.locator(`[data-next-fire-times="${name}"] li`).count()).toBe(created.body.next_fire_times.length);
  expect(created.body.next_fire_times.length).toBe(5);
  expect(await page.textContent(`[data-next-fire-times="${name}"]`)).toContain('in ');
  expect(await page.locator(`[data-last-firing="${name}"]`).count()).toBe(0);
  await screenshot(page, FOLDER, 'schedules');

  const row = page.locator('[data-table="schedules"] tbody tr', { hasText: name });
  await row.locator('[data-action="trigger"]').click();
  expect(await page.textContent('#confirm-text')).toContain(`Fire schedule ${name} now`);
  await page.click('#confirm-ok');
  await page.waitForSelector(`[data-last-firing="${name}"]:has-text("manual")`);
  const shown = await httpRequest<{ firings_count: number; last_firing: { work_request_id: number } | null }>(server.url, 'GET', `/api/v1/schedules/${name}`, { token: operatorToken });
  expect(shown.body.firings_count).toBe(1);
  expect(await page.textContent(`[data-last-firing="${name}"]`)).toContain(`#${shown.body.last_firing!.work_request_id}`);
  await httpRequest(server.url, 'DELETE', `/api/v1/schedules/${name}`, { token: operatorToken });
  expect(tab.errors).toEqual([]);
});

test('every page draws without a console error (a screenshot of each); unschedulable requests show why they wait', async () => {
  const huge = await server.client.createWorkRequest(shellTask('true', { task_name: uniqueName('dash-huge'), resources: { memory: '512GiB' } }));
  const pages: Array<[string, string, string]> = [
    ['#/overview', 'overview', 'overview'],
    ['#/overview?window=24h', 'overview', 'overview-day'],
    ['#/requests', 'requests', 'work-requests'],
    ['#/requests?status=completed&result=success', 'requests', 'work-requests-filtered'],
    ['#/workers', 'workers', 'workers'],
    ['#/tasks', 'tasks', 'tasks'],
    ['#/workflows', 'workflows', 'workflows-all'],
    ['#/runs', 'runs', 'runs'],
    ['#/schedules', 'schedules', 'schedules-all'],
  ];
  for (const [hash, name, shot] of pages) {
    await openPage(page, hash, name);
    await screenshot(page, FOLDER, shot);
  }
  await openPage(page, '#/overview', 'overview');
  await page.waitForSelector(`[data-table="unschedulable"] a:text-is("${huge.id}")`);
  expect(await page.textContent('[data-table="unschedulable"]')).toMatch(/needs 512(\.0)? GiB memory/);
  // The completions chart has one point per minute of the hour, per result.
  expect(await page.getAttribute('[data-chart="completions"]', 'data-points')).toBe(String(60 * 4));

  await openPage(page, '#/requests?status=completed&result=success', 'requests');
  const rows = await page.locator('[data-table="work-requests"] tbody tr').count();
  const listed = await server.client.listWorkRequests({ status: ['completed'], result: ['success'] });
  expect(rows).toBe(listed.work_requests.length);

  await openPage(page, '#/workers', 'workers');
  expect(await page.textContent('[data-table="workers"]')).toContain(worker.options.name);
  // Enable/disable appear only where the API has those routes.
  const offered = await pollUntil(() => fetch(`${server.url}/api/v1/openapi.json`).then((answer) => answer.json() as Promise<{ paths: Record<string, unknown> }>), { description: 'openapi' });
  const hasDisable = Object.keys(offered.paths).some((route) => /^\/api\/v1\/workers\/\{(id|name)\}\/disable$/.test(route));
  expect(await page.locator('[data-action="disable"]').count()).toBe(hasDisable ? 1 : 0);
  expect(tab.errors).toEqual([]);
});
