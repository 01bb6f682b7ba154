/**
 * Scenario 9: the dashboard in headless Chromium (Debian's chromium through playwright-core, as the browser
 * tests drive it) against the real server in this process.
 *
 * - Data, made with SQL: 20,000 ended requests spread over the last 24 h (so both overview charts have data),
 *   1,000 pending ones of which 100 need more memory than any worker has (unschedulable), 10 registered workers,
 *   and one task key with 1,000 runs in task_history (BENCH_DASHBOARD_RUNS; the server keeps that many per key).
 * - A workflow of 200 tasks (10 layers × 20, each task depending on two of the layer before: the most the page
 *   draws as a graph), its first 6 layers ended (one failure) by SQL, the rest blocked; and a run (open,
 *   budget 10/h) whose ledger holds a week of spend (a bucket a minute) and 10 workers' shares.
 * - Page loads: signed in once, then reloads of the overview (24 h charts), of that key's task page showing
 *   all 1,000 runs (its four plots checked to hold 1,000 points), of the workflow's page (its graph checked to
 *   hold 200 boxes) and of the run's page (its spend plot over 24 h), 2 warm-up + 10 measured each, timed from
 *   the reload to the page marking itself loaded (every API answer in and drawn) as the driver sees it, and in
 *   the page's own clock (navigation start → the frame after it marked itself loaded). Target: p95 ≤ 1 s each.
 * - Claim latency beside the dashboard: a worker claims {max 1, wait_s 0} and completes, one request at a
 *   time, from the pending queue: 300 claims alone; 300 alone spread over 30 s, then 300 spread the same way
 *   while 5 tabs stay open on the overview, work requests, workers, workflow and run pages, each refreshing
 *   itself every 3–5 s as a tab an operator keeps open does (issue 15's check: p99 ≤ 2 × the spread claims
 *   alone, or ≤ 25 ms); then, as a stress far past any operator, 300 while 5 tabs (driven from a child process, so
 *   the driver does not share the server's event loop) reload the overview, the work requests, the workers,
 *   the task page, the workflow page and the run page in a loop; then 300 more while the same tabs reload with
 *   Chromium at nice 19 (the machine's CPU goes to the server first); then 300 more while a plain HTTP client
 *   (bench/lib/replayRequests.ts, no browser) sends the API requests the tabs made in the first tabs phase again,
 *   at the times they made them, the 300 claims spread over the recording (what the server and PostgreSQL pay,
 *   without the browser's CPU); then 300 more while the tabs reload with Chromium under SCHED_IDLE (`chrt --idle 0`:
 *   it runs only on a CPU nothing else wants, a model of the browser on the operator's own machine); and each of
 *   those requests alone, with its time, CPU and size. Reported: p50/p95/p99 of the claim call in each,
 *   their ratio (the dashboard's requests must not block workers; on a 2-core machine they do compete for the CPU),
 *   and the server's event-loop stalls (a tick ≥ 50 ms late) split into the main thread running (its own work:
 *   what the dashboard's requests cost it) and waiting for a CPU (Chromium and the machine's other processes).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sleep } from '../common/sleep';
import type { ClaimResponse, RegisterWorkerResponse } from '../protocol/workerApi';
import { CHROMIUM_PATH, launchBrowser, type Browser } from '../test/helpers/browser';
import { BENCH_WORKER_RESOURCES, Cleanup, insertRequests, makeTempDir, progress, startBenchServer, withTimeLimit, type BenchPostgres, type BenchServer } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import type { RecordedRequest } from './lib/dashboardTabs';
import { LoopStallMonitor, type LoopStalls } from './lib/loopStalls';
import { CpuMeter, describeLatency, ms, summarize, type Summary } from './lib/stats';

const SCENARIO = '10 dashboard';
const ENDED = 20_000;
// Enough for every claim phase (7 × CLAIMS) besides the unschedulable ones: a claim that finds nothing is cheaper.
const PENDING = 2_300;
const UNSCHEDULABLE = 100;
const WORKERS = 10;
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 1_000);
const TASK_NAME = 'bench.dashboard';
const WARMUP_LOADS = 2;
const MEASURED_LOADS = 10;
const CLAIMS = 300;
const TABS = 5;
/** The niceness of the second tabs phase's Chromium: the lowest priority, so the server gets the CPU first. */
const LOW_PRIORITY = 19;
const TARGET_LOAD_MS = 1_000;
/** The open-tabs phase's claims are spread over this long, so they meet the pages' own refreshes (every 3–5 s). */
const OPEN_TABS_MS = 30_000;
const WORKFLOW_ID = 'bench-dashboard-graph';
const WORKFLOW_LAYERS = 10;
const WORKFLOW_WIDTH = 20;
const RUN_ID = 'bench-dashboard-run';

interface PageToTime {
  label: string;
  hash: string;
  page: string;
  /** What the loaded page must show: a selector and how many elements match it. */
  check: { selector: string; count: number } | null;
}

export async function runDashboardLoad(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    // A key keeps this many runs only when the retention says so (WORKSCHED_HISTORY_RETENTION_RUNS, default 50).
    const bench = await startBenchServer(cleanup, postgres, 'dashboard', { historyRetentionRuns: RUNS });
    const report: ScenarioReport = { rows: [], notes: [] };
    const operatorToken = (await bench.http.post<{ token: string }>('/api/v1/tokens', bench.server.adminToken, { role: 'operator', name: 'bench dashboard' })).token;
    const workerToken = await fillData(bench);
    progress(`chromium: ${CHROMIUM_PATH}`);
    const browser = await launchBrowser();
    cleanup.add('close browser', () => browser.close());

    const pages: PageToTime[] = [
      { label: 'overview (24 h charts)', hash: '#/overview?window=24h', page: 'overview', check: null },
      {
        label: `task page (${RUNS} runs, 4 plots)`,
        hash: `#/tasks/key?task_name=${TASK_NAME}&limit=${RUNS}`,
        page: 'tasks-detail',
        check: { selector: `[data-chart][data-points="${RUNS}"]`, count: 4 },
      },
      {
        label: `workflow page (${WORKFLOW_LAYERS * WORKFLOW_WIDTH} tasks, graph)`,
        hash: `#/workflows/${WORKFLOW_ID}`,
        page: 'workflows-detail',
        check: { selector: '[data-graph="workflow"] [data-node]', count: WORKFLOW_LAYERS * WORKFLOW_WIDTH },
      },
      // 96 steps of 15 min, two series.
      { label: 'run page (spend over 24 h, 10 workers)', hash: `#/runs/${RUN_ID}?window=24h`, page: 'runs-detail', check: { selector: '[data-chart="spend"][data-points="192"]', count: 1 } },
    ];
    for (const page of pages) {
      const { driver, inPage } = await measureLoads(browser, bench, operatorToken, page);
      progress(`  page load, ${page.label}: ${describeLatency(driver)}; in the page: ${describeLatency(inPage)}`);
      report.rows.push({ scenario: SCENARIO, metric: `page load p95: ${page.label}`, value: ms(driver.p95), target: `≤ ${ms(TARGET_LOAD_MS)}`, met: driver.p95 <= TARGET_LOAD_MS });
      report.rows.push({ scenario: SCENARIO, metric: `page load p50: ${page.label}`, value: ms(driver.p50) });
      report.rows.push({ scenario: SCENARIO, metric: `  in the page (navigation → drawn) p50 / p95`, value: `${ms(inPage.p50)} / ${ms(inPage.p95)}` });
    }

    const alone = await measureClaims(bench, workerToken, 'alone');
    await browser.close();
    const aloneSpread = await measureClaims(bench, workerToken, `alone, spread over ${OPEN_TABS_MS / 1000} s`, OPEN_TABS_MS);
    const open = await withTabsOpen(bench, operatorToken, () =>
      measureClaims(bench, workerToken, `while ${TABS} tabs stay open and refresh themselves, spread over ${OPEN_TABS_MS / 1000} s`, OPEN_TABS_MS),
    );
    const recording = path.join(await makeTempDir(cleanup, 'worksched-bench-dashboard-requests-'), 'requests.jsonl');
    const beside = await withTabsRefreshing(bench, operatorToken, 0, () => measureClaims(bench, workerToken, `while ${TABS} tabs reload`), recording);
    const niced = await withTabsRefreshing(bench, operatorToken, LOW_PRIORITY, () =>
      measureClaims(bench, workerToken, `while ${TABS} tabs reload, chromium at nice ${LOW_PRIORITY}`),
    );
    // Spread over the recording, so the claims meet all of it (back to back they would see its first seconds only).
    const recordedMs = recordingDurationMs(recording);
    const replayed = await withReplay(bench, recording, () =>
      measureClaims(bench, workerToken, `while the tabs' requests are replayed without a browser, spread over ${(recordedMs / 1000).toFixed(0)} s`, recordedMs),
    );
    const idle = await withTabsRefreshing(bench, operatorToken, 'idle', () => measureClaims(bench, workerToken, `while ${TABS} tabs reload, chromium under SCHED_IDLE`));
    const recorded = describeRecording(recording, beside.reloads);
    report.notes.push(...recorded.lines, ...(await profileRecordedRequests(bench, recording)));
    progress(`  claim, alone: ${describeLatency(alone)}; stalls ${describeStalls(alone.stalls)}`);
    progress(`  claim, ${TABS} tabs reloading (${beside.reloads} page loads meanwhile): ${describeLatency(beside.result)}; stalls ${describeStalls(beside.result.stalls)}`);
    progress(`  claim, ${TABS} tabs reloading at nice ${LOW_PRIORITY} (${niced.reloads} page loads): ${describeLatency(niced.result)}; stalls ${describeStalls(niced.result.stalls)}`);
    progress(`  claim, the tabs' requests replayed (${replayed.requests} sent, ${replayed.failed} failed): ${describeLatency(replayed.result)}; stalls ${describeStalls(replayed.result.stalls)}`);
    progress(`  claim, ${TABS} tabs reloading under SCHED_IDLE (${idle.reloads} page loads): ${describeLatency(idle.result)}; stalls ${describeStalls(idle.result.stalls)}`);
    progress(`  claim, alone, spread over ${OPEN_TABS_MS / 1000} s: ${describeLatency(aloneSpread)}; stalls ${describeStalls(aloneSpread.stalls)}`);
    progress(`  claim, ${TABS} tabs open, refreshing themselves (${open.requests} API requests): ${describeLatency(open.result)}; stalls ${describeStalls(open.result.stalls)}`);
    // Issue 15's check: tabs an operator keeps open (each page refreshes itself every 3–5 s) must not hold up workers.
    const openTarget = Math.max(2 * aloneSpread.p99, 25);
    report.rows.push({ scenario: SCENARIO, metric: `claim p50 / p95 / p99, alone, spread over ${OPEN_TABS_MS / 1000} s`, value: `${ms(aloneSpread.p50)} / ${ms(aloneSpread.p95)} / ${ms(aloneSpread.p99)}` });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50 / p95 / p99, ${TABS} tabs open (${OPEN_TAB_PAGES.map(([, name]) => name).join(', ')}), each refreshing itself; ${open.requests} API requests in ${OPEN_TABS_MS / 1000} s`,
      value: `${ms(open.result.p50)} / ${ms(open.result.p95)} / ${ms(open.result.p99)}`,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p99, ${TABS} open tabs refreshing (target: ≤ 2 × alone spread the same way, or ≤ 25 ms)`,
      value: `${ms(open.result.p99)} (alone ${ms(aloneSpread.p99)})`,
      target: `≤ ${ms(openTarget)}`,
      met: open.result.p99 <= openTarget,
    });
    report.rows.push({ scenario: SCENARIO, metric: `server loop stalls ≥ 50 ms, ${TABS} open tabs: count: running / waiting for a CPU`, value: describeStalls(open.result.stalls) });
    report.rows.push({ scenario: SCENARIO, metric: 'claim p50 / p95, alone', value: `${ms(alone.p50)} / ${ms(alone.p95)}` });
    report.rows.push({ scenario: SCENARIO, metric: `claim p50 / p95, ${TABS} tabs reloading`, value: `${ms(beside.result.p50)} / ${ms(beside.result.p95)}` });
    report.rows.push({ scenario: SCENARIO, metric: `claim p50 ratio (tabs ÷ alone; ${beside.reloads} page loads)`, value: (beside.result.p50 / alone.p50).toFixed(2) });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50 / p95, ${TABS} tabs reloading, chromium at nice ${LOW_PRIORITY} (${niced.reloads} page loads)`,
      value: `${ms(niced.result.p50)} / ${ms(niced.result.p95)}`,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50 / p95, the tabs' requests replayed without a browser (${replayed.requests} requests, ${recorded.perLoad.toFixed(1)} a page load, ${replayed.failed} failed)`,
      value: `${ms(replayed.result.p50)} / ${ms(replayed.result.p95)}`,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50 / p95 / p99, ${TABS} tabs reloading, chromium under SCHED_IDLE (${idle.reloads} page loads)`,
      value: `${ms(idle.result.p50)} / ${ms(idle.result.p95)} / ${ms(idle.result.p99)}`,
    });
    const phases = [alone, beside.result, niced.result, replayed.result];
    // Either bound will do: on a noisy machine 2 × alone may be more than 25 ms.
    const target = Math.max(2 * alone.p99, 25);
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p99 under back-to-back reloads (a stress far past any operator), alone → tabs → tabs at nice ${LOW_PRIORITY} → replayed (target for the last two: ≤ 2 × alone or ≤ 25 ms)`,
      value: phases.map((phase) => ms(phase.p99)).join(' → '),
      target: `≤ ${ms(target)}`,
      met: Math.max(niced.result.p99, replayed.result.p99) <= target,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: `server event-loop delay p99 / max, alone → tabs → tabs at nice ${LOW_PRIORITY} → replayed`,
      value: phases.map((phase) => `${ms(phase.loopP99)} / ${ms(phase.loopMax)}`).join(' → '),
    });
    report.rows.push({ scenario: SCENARIO, metric: 'server event-loop delay p99 / max, tabs under SCHED_IDLE', value: `${ms(idle.result.loopP99)} / ${ms(idle.result.loopMax)}` });
    for (const [label, phase] of [['tabs', beside.result], [`tabs at nice ${LOW_PRIORITY}`, niced.result], ['replayed', replayed.result], ['tabs under SCHED_IDLE', idle.result]] as const) {
      report.rows.push({ scenario: SCENARIO, metric: `server loop stalls ≥ 50 ms, ${label}: count: running / waiting for a CPU`, value: describeStalls(phase.stalls) });
    }
    // This process is the server (and the claiming client, the same in both phases): the extra CPU is the dashboard's.
    report.rows.push({ scenario: SCENARIO, metric: 'server CPU per dashboard page load (auto-refreshes of the open pages included)', value: ms((beside.result.cpuMs - alone.cpuMs) / beside.reloads) });
    report.rows.push({ scenario: SCENARIO, metric: 'PostgreSQL CPU per dashboard page load (the same way)', value: ms((beside.result.postgresCpuMs - alone.postgresCpuMs) / beside.reloads) });
    // Where the replay phase's CPU went: the same 300 claims as alone, plus the dashboard's requests and the server's own timers over a longer phase.
    report.rows.push({
      scenario: SCENARIO,
      metric: `CPU in all, alone → replayed (${replayed.requests} requests): server process / PostgreSQL`,
      value: `${ms(alone.cpuMs)} / ${ms(alone.postgresCpuMs)} → ${ms(replayed.result.cpuMs)} / ${ms(replayed.result.postgresCpuMs)}`,
    });
    return report;
  } finally {
    await cleanup.runAll();
  }
}

/** The requests, workers, history, workflow and run the pages show; returns a worker token for the claims. */
async function fillData(bench: BenchServer): Promise<string> {
  progress(`data: ${ENDED.toLocaleString('en-US')} ended requests over 24 h, ${PENDING} pending (${UNSCHEDULABLE} unschedulable), ${WORKERS} workers, ${RUNS} runs of ${TASK_NAME}`);
  let workerToken = '';
  for (let index = 0; index < WORKERS; index += 1) {
    const answer = await bench.http.post<RegisterWorkerResponse>('/api/v1/workers/register', bench.server.enrollmentToken, {
      name: `dash-${index}`,
      resources: BENCH_WORKER_RESOURCES,
    });
    workerToken ||= answer.token;
  }
  await insertRequests(bench.sql, ENDED, { completed: true });
  // Spread over the day with a queue wait of 0–30 s, a tenth failed and a few aborted.
  await bench.sql.query(
    `update work_request set completed_at = c.done, started_at = c.done - interval '2 seconds', created_at = c.done - interval '2 seconds' - random() * interval '30 seconds',
       result = case when id % 10 = 0 then 'failure' when id % 97 = 0 then null else 'success' end,
       status = case when id % 97 = 0 then 'aborted' else 'completed' end
     from (select id as rid, now() - random() * interval '24 hours' as done from work_request) c where id = c.rid`,
  );
  await insertRequests(bench.sql, PENDING);
  await bench.sql.query(
    `update work_request set need_memory = 1024::bigint ^ 4, unschedulable_reason = 'cannot run on any registered worker: needs 1 TiB memory'
     where id in (select id from work_request where status = 'pending' order by id limit $1)`,
    [UNSCHEDULABLE],
  );
  await bench.sql.query(
    `insert into task_history (task_name, subject, context, work_request_id, attempt, result, error_code, worker_name,
       duration_ms, cpu_time_ms, memory, disk_space, measurement, started_at, completed_at)
     select $1, '', '', null, 1, case when g % 20 = 0 then 'failure' else 'success' end, case when g % 20 = 0 then 'exit_code' end, 'dash-0',
       1000 + (random() * 4000)::bigint, 500 + (random() * 3000)::bigint, (100 + random() * 400)::bigint * 1048576, (10 + random() * 90)::bigint * 1048576,
       'cgroup', now() - (g * interval '1 minute') - interval '5 seconds', now() - g * interval '1 minute'
     from generate_series(1, $2::int) g`,
    [TASK_NAME, RUNS],
  );
  await bench.sql.query(
    `insert into task_key (task_name, subject, context, runs, successes, failures, last_run_at, last_success_at, last_failure_at)
     select task_name, subject, context, count(*), count(*) filter (where result = 'success'), count(*) filter (where result = 'failure'),
       max(completed_at), max(completed_at) filter (where result = 'success'), max(completed_at) filter (where result = 'failure')
     from task_history group by 1, 2, 3`,
  );
  await fillWorkflowAndRun(bench);
  await bench.sql.query('vacuum analyze work_request');
  await bench.sql.query('vacuum analyze task_history');
  return workerToken;
}

/**
 * The workflow (created through the API, its first 6 layers then ended by SQL, one task failed: nothing of it
 * is pending, so the claims below never take its tasks) and the run with a week of ledger.
 */
async function fillWorkflowAndRun(bench: BenchServer): Promise<void> {
  const tasks = [];
  for (let layer = 0; layer < WORKFLOW_LAYERS; layer += 1) {
    for (let column = 0; column < WORKFLOW_WIDTH; column += 1) {
      tasks.push({
        task_id: `l${layer}.c${column}`,
        task_name: 'bench.dashboard.step',
        execution: { executable: '/bin/true' },
        depends_on: layer === 0 ? [] : [`l${layer - 1}.c${column}`, `l${layer - 1}.c${(column + 1) % WORKFLOW_WIDTH}`],
      });
    }
  }
  await bench.http.post('/api/v1/workflows', bench.server.adminToken, { workflow_id: WORKFLOW_ID, tasks });
  await bench.sql.query(
    `update work_request set status = 'completed', result = case when task_id = 'l5.c7' then 'failure' else 'success' end,
       started_at = now() - interval '10 minutes', completed_at = now() - interval '9 minutes', output_data = '{}'::jsonb
     where workflow_id = $1 and split_part(task_id, '.', 1) in ('l0', 'l1', 'l2', 'l3', 'l4', 'l5')`,
    [WORKFLOW_ID],
  );
  await bench.sql.query(`update work_request set status = 'blocked' where workflow_id = $1 and status = 'pending'`, [WORKFLOW_ID]);
  await bench.http.post('/api/v1/workflows', bench.server.adminToken, { workflow_id: RUN_ID, open: true, budget: '10/h', tasks: [] });
  await bench.sql.query(
    `insert into workflow_spend (workflow_id, bucket_start, cost)
     select $1, date_trunc('minute', now()) - g * interval '1 minute', 0.05 + random() * 0.2 from generate_series(0, 7 * 24 * 60 - 1) g`,
    [RUN_ID],
  );
  await bench.sql.query(
    `insert into workflow_worker (workflow_id, worker_id, tasks, successes, results, cost, work_ms)
     select $1, id, 1000, 990, 990, 200, 3600000 from worker`,
    [RUN_ID],
  );
  await bench.sql.query('analyze workflow_spend');
}

async function signedInTab(browser: Browser, bench: BenchServer, token: string) {
  const tab = await browser.newTab();
  await tab.page.goto(`${bench.server.url}/`);
  await tab.page.fill('#token', token);
  await tab.page.click('#login-form button[type=submit]');
  await tab.page.waitForSelector('[data-page="overview"][data-loaded="true"]');
  return tab;
}

/**
 * Reloads of a page in one signed-in tab: from the reload to the page marking itself loaded as the driver sees
 * it, and in the page's own clock from navigation start to the frame after it marked itself loaded.
 */
async function measureLoads(browser: Browser, bench: BenchServer, token: string, target: PageToTime): Promise<{ driver: Summary; inPage: Summary }> {
  const tab = await signedInTab(browser, bench, token);
  // In the page (a string: this file is compiled without the DOM's types).
  await tab.page.addInitScript({
    content: `new MutationObserver(() => {
      if (document.querySelector('[data-loaded="true"]')) requestAnimationFrame(() => { window.drawnAt ??= performance.now(); });
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-loaded'] });`,
  });
  const loaded = `[data-page="${target.page}"][data-loaded="true"]`;
  await tab.page.goto(`${bench.server.url}/${target.hash}`);
  await tab.page.waitForSelector(loaded);
  const driver: number[] = [];
  const inPage: number[] = [];
  for (let index = 0; index < WARMUP_LOADS + MEASURED_LOADS; index += 1) {
    const started = performance.now();
    await tab.page.reload();
    await tab.page.waitForSelector(loaded);
    const elapsed = performance.now() - started;
    const drawnAt = Number(await (await tab.page.waitForFunction('window.drawnAt')).jsonValue());
    if (index >= WARMUP_LOADS) {
      driver.push(elapsed);
      inPage.push(drawnAt);
    }
  }
  if (target.check) {
    const found = await tab.page.locator(target.check.selector).count();
    if (found !== target.check.count) throw new Error(`${target.label}: ${found} × ${target.check.selector}, not ${target.check.count}`);
  }
  if (tab.errors.length > 0) throw new Error(`console errors on ${target.hash}: ${tab.errors.join('; ')}`);
  await tab.page.close();
  return { driver: summarize(driver), inPage: summarize(inPage) };
}

/**
 * One claim {max 1, wait_s 0} at a time, each completed before the next; the claim call's time. The event
 * loop's delay meanwhile (the server's loop: it shares this process) tells a blocked server from a busy CPU.
 */
async function measureClaims(bench: BenchServer, token: string, what: string, spreadOverMs = 0): Promise<Summary & { loopP99: number; loopMax: number; cpuMs: number; postgresCpuMs: number; stalls: LoopStalls }> {
  progress(`${CLAIMS} claims ${what}`);
  const times: number[] = [];
  const cpuBefore = process.cpuUsage();
  const meter = new CpuMeter();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const stalls = new LoopStallMonitor();
  stalls.start();
  await withTimeLimit(`claims ${what}`, 300_000, async () => {
    const phaseStarted = performance.now();
    for (let index = 0; index < CLAIMS; index += 1) {
      const due = phaseStarted + (index * spreadOverMs) / CLAIMS;
      if (due > performance.now()) await sleep(due - performance.now());
      const started = performance.now();
      const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', token, { max: 1, wait_s: 0 });
      times.push(performance.now() - started);
      if (answer.work_requests.length === 0) throw new Error(`claims ${what}: the queue ran dry at claim ${index + 1}`);
      for (const item of answer.work_requests) await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, token, { result: 'success', output_data: {} });
    }
  });
  loop.disable();
  const cpu = process.cpuUsage(cpuBefore);
  return { ...summarize(times), loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, postgresCpuMs: meter.perUnitMs(1).postgres, stalls: stalls.stop() };
}

function recordingDurationMs(file: string): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.length > 0);
  return lines.length === 0 ? 0 : (JSON.parse(lines[lines.length - 1]) as RecordedRequest).t;
}

/** The recorded requests: how many a page load, and which (query strings cut), for the notes. */
function describeRecording(file: string, loads: number): { perLoad: number; lines: string[] } {
  const entries = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RecordedRequest);
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const key = `${entry.method} ${entry.path.replace(/\?.*/, '?…')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const lines = [`${SCENARIO}: the tabs' requests, ${entries.length} over ${loads} page loads (replayed at the same times):`];
  for (const [key, count] of [...counts].sort((a, b) => b[1] - a[1])) lines.push(`  ${String(count).padStart(5)}  ${key}`);
  return { perLoad: entries.length / loads, lines };
}

/**
 * Each distinct recorded request alone, one at a time on the otherwise idle server: its time, this process's
 * CPU (the server's, and the small client's) and PostgreSQL's CPU, and the answer's size; the dearest first.
 */
async function profileRecordedRequests(bench: BenchServer, file: string): Promise<string[]> {
  const REPEATS = 10;
  const distinct = new Map<string, RecordedRequest>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    const entry = JSON.parse(line) as RecordedRequest;
    distinct.set(`${entry.method} ${entry.path}`, entry);
  }
  const url = new URL(bench.server.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (entry: RecordedRequest) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ agent, host: url.hostname, port: url.port, method: entry.method, path: entry.path, headers: entry.headers }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  const rows: Array<{ key: string; wallMs: number; cpuMs: number; postgresMs: number; bytes: number }> = [];
  try {
    for (const [key, entry] of distinct) {
      await send(entry);
      const times: number[] = [];
      const cpuBefore = process.cpuUsage();
      const meter = new CpuMeter();
      let bytes = 0;
      for (let index = 0; index < REPEATS; index += 1) {
        const started = performance.now();
        bytes = await send(entry);
        times.push(performance.now() - started);
      }
      const cpu = process.cpuUsage(cpuBefore);
      rows.push({ key, wallMs: summarize(times).p50, cpuMs: (cpu.user + cpu.system) / 1000 / REPEATS, postgresMs: meter.perUnitMs(REPEATS).postgres, bytes });
    }
  } finally {
    agent.destroy();
  }
  rows.sort((a, b) => b.cpuMs + b.postgresMs - (a.cpuMs + a.postgresMs));
  return [
    `${SCENARIO}: each distinct recorded request alone (p50 of ${REPEATS}): time, server CPU, PostgreSQL CPU, answer size`,
    ...rows.map((row) => `  ${ms(row.wallMs).padStart(9)} ${ms(row.cpuMs).padStart(9)} ${ms(row.postgresMs).padStart(9)} ${`${(row.bytes / 1024).toFixed(1)} KiB`.padStart(10)}  ${row.key}`),
  ];
}

/** `12: 95 ms / 1,210 ms of 1,300 ms late (…)`: how long the stalled loop ran itself and how long it waited for a CPU; the same over the phase. */
function describeStalls(stalls: LoopStalls): string {
  const whole = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;
  return `${stalls.count}: ${whole(stalls.runningMs)} / ${whole(stalls.waitingMs)} of ${whole(stalls.lateMs)} late (the whole phase: ${whole(stalls.phaseRunningMs)} / ${whole(stalls.phaseWaitingMs)})`;
}

/** The pages the tabs show: [hash, page name, whether the page refreshes itself (the task page does not)]. */
const TAB_PAGES: Array<[string, string, boolean]> = [
  ['#/overview?window=24h', 'overview', true],
  ['#/requests', 'requests', true],
  ['#/workers', 'workers', true],
  [`#/tasks/key?task_name=${TASK_NAME}&limit=${RUNS}`, 'tasks-detail', false],
  [`#/workflows/${WORKFLOW_ID}`, 'workflows-detail', true],
  [`#/runs/${RUN_ID}?window=24h`, 'runs-detail', true],
];

/** The pages the open-tabs phase leaves open, one a tab: those that refresh themselves. */
const OPEN_TAB_PAGES = TAB_PAGES.filter(([, , refreshes]) => refreshes);

/**
 * Runs `work` while TABS tabs, driven from a child process (bench/lib/dashboardTabs.ts) at priority `nice` (its
 * Chromium inherits it), reload `pages` back to back, or with `mode` 'open' each keep one of them open (the page's
 * own refresh timer at work); how many page loads and API requests they made meanwhile. With `recordTo`, the
 * tabs write the requests they made there (for `withReplay`).
 */
async function withTabs<T>(
  bench: BenchServer,
  token: string,
  options: { nice: Priority; mode: 'reload' | 'open'; pages: Array<[string, string, boolean]>; recordTo?: string },
  work: () => Promise<T>,
): Promise<{ result: T; reloads: number; requests: number }> {
  const env = {
    DASHBOARD_URL: bench.server.url,
    DASHBOARD_TOKEN: token,
    DASHBOARD_TABS: String(TABS),
    DASHBOARD_PAGES: JSON.stringify(options.pages.map(([hash, name]) => [hash, name])),
    DASHBOARD_MODE: options.mode,
    ...(options.recordTo ? { DASHBOARD_RECORD: options.recordTo } : {}),
  };
  const { result, output } = await withChildRunning('dashboardTabs.ts', env, options.nice, work);
  const count = (key: string) => {
    const match = new RegExp(`"${key}": ?(\\d+)`).exec(output);
    return match ? Number(match[1]) : Number.NaN;
  };
  return { result, reloads: count('loads'), requests: count('requests') };
}

/** Tabs reloading TAB_PAGES back to back (see withTabs). */
function withTabsRefreshing<T>(bench: BenchServer, token: string, nice: Priority, work: () => Promise<T>, recordTo?: string) {
  return withTabs(bench, token, { nice, mode: 'reload', pages: TAB_PAGES, recordTo }, work);
}

/** Tabs each keeping one of OPEN_TAB_PAGES open (see withTabs). */
function withTabsOpen<T>(bench: BenchServer, token: string, work: () => Promise<T>) {
  return withTabs(bench, token, { nice: 0, mode: 'open', pages: OPEN_TAB_PAGES }, work);
}

/** Runs `work` while bench/lib/replayRequests.ts sends the recorded requests again at their recorded times; how many it sent. */
async function withReplay<T>(bench: BenchServer, recording: string, work: () => Promise<T>): Promise<{ result: T; requests: number; failed: number }> {
  const { result, output } = await withChildRunning('replayRequests.ts', { REPLAY_URL: bench.server.url, REPLAY_FILE: recording }, 0, work);
  const sent = /\{"requests": ?(\d+), ?"failed": ?(\d+)\}/.exec(output);
  return { result, requests: sent ? Number(sent[1]) : Number.NaN, failed: sent ? Number(sent[2]) : Number.NaN };
}

/**
/** A child's CPU priority: a niceness, or 'idle' for the SCHED_IDLE policy (`chrt --idle 0`, allowed unprivileged). */
type Priority = number | 'idle';

/**
 * Runs `work` while bench/lib/`script` runs in a child process at niceness `nice` (set before it starts
 * anything, so its children inherit it) or under SCHED_IDLE (started through `chrt --idle 0`, inherited the
 * same way), once it printed `ready`; stops it with SIGUSR2 and returns its output.
 */
async function withChildRunning<T>(script: string, env: Record<string, string>, nice: Priority, work: () => Promise<T>): Promise<{ result: T; output: string }> {
  const command = [process.execPath, path.resolve(__dirname, '..', 'bin', 'run-ts.js'), path.resolve(__dirname, 'lib', script)];
  if (nice === 'idle') command.unshift('chrt', '--idle', '0');
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Before the child starts Chromium (it loads its code first), so every browser process inherits the niceness.
  if (typeof nice === 'number' && nice !== 0 && child.pid !== undefined) os.setPriority(child.pid, nice);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await withTimeLimit(`${script} ready`, 60_000, async () => {
      while (!output.includes('ready\n')) {
        if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
        await sleep(100);
      }
    });
    await sleep(1_000);
    const result = await work();
    child.kill('SIGUSR2');
    if ((await exited) !== 0) throw new Error(`${script} failed: ${output}`);
    return { result, output };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
