/**
 * `worksched server --processes 2`: two replicas serve one port on one database, and a long-poll claim held by
 * one replica is woken by a create that the other handled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { readCredentialsFile } from '../../common/credentialsFile';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { CLI, REPO_ROOT } from '../helpers/workerProcess';
import { pollUntil } from '../helpers/waitFor';

jest.setTimeout(120_000);

let db: TestDatabase;
let dataDir: string;
let primary: ChildProcess | null = null;

afterEach(async () => {
  if (primary && primary.exitCode === null) {
    const exited = new Promise((resolve) => primary!.once('exit', resolve));
    primary.kill('SIGTERM');
    await exited;
  }
  await db?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** One HTTP call on a connection of its own, so the cluster's primary may hand it to either replica. */
function call(url: string, method: string, urlPath: string, token: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(
      new URL(urlPath, url),
      { method, agent: false, headers: { authorization: `Bearer ${token}`, connection: 'close', ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

const metricValue = (page: string, prefix: string): number =>
  page
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);

test('two server processes share a port; a long-poll on one is woken by a create on the other', async () => {
  db = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-processes-'));
  primary = spawn(process.execPath, [CLI, 'server', '--processes', '2', '--port', '0', '--database-url', db.url, '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  primary.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  primary.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await pollUntil(() => /ready at (http:\S+)/.test(stdout), { description: `the banner (stderr so far: ${stderr})`, timeoutMs: 90_000, intervalMs: 100 });
  const url = /ready at (http:\S+)/.exec(stdout)![1];
  expect(stderr).toContain('2 server processes');
  const saved = readCredentialsFile(dataDir);
  const credentials = { admin_token: saved?.admin_token ?? '', enrollment_token: saved?.enrollment_token ?? '' };
  expect(credentials.admin_token).not.toBe('');

  const registered = await call(url, 'POST', '/api/v1/workers/register', credentials.enrollment_token, {
    name: 'cluster-sim',
    resources: { cpu_count: 2, total_memory: 2 ** 33, available_memory: 2 ** 33, available_disk_space: 2 ** 34 },
    concurrency: 4,
  });
  expect([registered.status, registered.text]).toEqual([201, expect.any(String)]);
  const workerToken = (JSON.parse(registered.text) as { token: string }).token;

  // Each replica's page names its pid (their start times, in whole seconds, can be equal).
  const pidOf = (page: string) => Number(/^worksched_process_info\{pid="(\d+)"\} 1$/m.exec(page)?.[1]);
  const countsOf = (page: string) => ({
    claims: metricValue(page, 'worksched_claim_transactions_total '),
    creates: metricValue(page, 'worksched_http_request_duration_seconds_count{method="POST",route="/api/v1/work-requests"'),
  });
  /** Scrapes /metrics on fresh connections until both replicas have answered: their counts by pid. */
  const scrapeBoth = async () => {
    const seen = new Map<number, { claims: number; creates: number }>();
    for (let attempt = 0; attempt < 40 && seen.size < 2; attempt += 1) {
      const page = (await call(url, 'GET', '/metrics', credentials.admin_token)).text;
      const pid = pidOf(page);
      expect(pid).toBeGreaterThan(0);
      seen.set(pid, countsOf(page));
    }
    expect(seen.size).toBe(2);
    return seen;
  };

  let wokenAcross = 0;
  for (let round = 0; round < 8 && wokenAcross === 0; round += 1) {
    const before = await scrapeBoth();
    const claim = call(url, 'POST', '/api/v1/workers/claim', workerToken, { max: 1, wait_s: 20 });
    let claimer = 0;
    await pollUntil(
      async () => {
        for (const [replica, counts] of await scrapeBoth()) if (counts.claims > before.get(replica)!.claims) claimer = replica;
        return claimer !== 0;
      },
      { description: 'the claim parked on a replica', intervalMs: 50 },
    );
    const created = await call(url, 'POST', '/api/v1/work-requests', credentials.admin_token, { task_name: 'across', execution: { executable: '/bin/true', args: [] } });
    expect([created.status, created.text]).toEqual([201, expect.any(String)]);
    const createdAt = performance.now();
    const answer = await claim;
    const wakeMs = performance.now() - createdAt;
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.text) as { work_requests: unknown[] }).work_requests).toHaveLength(1);
    expect(wakeMs).toBeLessThan(1_000);
    const after = await scrapeBoth();
    const createdOnOther = [...after].some(([replica, counts]) => replica !== claimer && counts.creates > before.get(replica)!.creates);
    if (createdOnOther) {
      wokenAcross += 1;
      console.info(`round ${round}: a claim held by one replica woke ${wakeMs.toFixed(0)} ms after a create on the other`);
    }
  }
  expect(wokenAcross).toBe(1);
});
