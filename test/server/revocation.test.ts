/**
 * Revocation: admins list tokens (never the secret) and revoke them, refused at once by every server process
 * sharing the database; tokens may expire; operators disable a worker, whose claims then get nothing and whose
 * running requests are requeued (or aborted) as for a lost worker, and enable it again. Also through the CLI.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ApiTokenInfo } from '../../protocol/tokens';
import type { Worker } from '../../protocol/workerApi';
import { compileServerConfig } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { runCli } from '../helpers/cli';
import { expectStatus, httpRequest, startTestServer, type OrError, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

let server: TestServer;
/** A second server process on the same database, as a replica would be. */
let replica: RunningServer;
let replicaDir: string;
let operatorToken: string;

beforeAll(async () => {
  server = await startTestServer();
  replicaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-replica-test-'));
  replica = await startServer(
    compileServerConfig({ databaseUrl: server.db.url, port: 0, host: '127.0.0.1', dataDir: replicaDir, logLevel: 'silent', heartbeatTimeoutS: 300, validateResponses: true }, {}),
  );
  operatorToken = (await createToken({ role: 'operator', name: 'ops' })).token;
});

afterAll(async () => {
  await replica?.close();
  await server?.close();
  fs.rmSync(replicaDir, { recursive: true, force: true });
});

async function createToken(body: Record<string, unknown>): Promise<{ id: number; token: string; expires_at: string | null }> {
  return expectStatus(await server.request<{ id: number; token: string; expires_at: string | null }>('POST', '/api/v1/tokens', { token: server.adminToken, body }), 201, 'create token').body;
}

const listTokens = async () => expectStatus(await server.request<{ tokens: ApiTokenInfo[] }>('GET', '/api/v1/tokens', { token: server.adminToken }), 200, 'list tokens').body.tokens;
const whoAmI = (url: string, token: string) => httpRequest(url, 'GET', '/api/v1/work-requests?limit=1', { token });

test('token list shows id, role, name, created and last used, never the secret; a revoked token is refused at once on both replicas', async () => {
  const created = await createToken({ role: 'client', name: 'ci-pipeline' });
  // Both processes cache the lookup now.
  expect((await whoAmI(server.url, created.token)).status).toBe(200);
  expect((await whoAmI(replica.url, created.token)).status).toBe(200);

  const listed = await listTokens();
  const mine = listed.find((token) => token.id === created.id);
  expect(mine).toEqual(expect.objectContaining({ role: 'client', name: 'ci-pipeline', worker: null, revoked_at: null, expires_at: null }));
  expect(mine?.last_used_at).not.toBeNull();
  expect(JSON.stringify(listed)).not.toContain(created.token);
  expect(JSON.stringify(listed)).not.toMatch(/token_hash|[0-9a-f]{64}/);

  const revoked = expectStatus(await server.request<ApiTokenInfo>('POST', `/api/v1/tokens/${created.id}/revoke`, { token: server.adminToken }), 200, 'revoke').body;
  expect(revoked.revoked_at).not.toBeNull();
  for (const url of [server.url, replica.url]) {
    const answer = await whoAmI(url, created.token);
    expect({ url, status: answer.status }).toEqual({ url, status: 401 });
  }
  // Idempotent; an unknown id is a 404; only admins may revoke or list.
  expect((await server.request('POST', `/api/v1/tokens/${created.id}/revoke`, { token: server.adminToken })).status).toBe(200);
  expect((await server.request('POST', '/api/v1/tokens/99999999/revoke', { token: server.adminToken })).status).toBe(404);
  expect((await server.request('POST', `/api/v1/tokens/${created.id}/revoke`, { token: operatorToken })).status).toBe(403);
  expect((await server.request('GET', '/api/v1/tokens', { token: operatorToken })).status).toBe(403);
});

test('a token created with an expiry works until then and is refused after, on both replicas', async () => {
  const created = await createToken({ role: 'client', name: 'short-lived', expires_in: '2s' });
  expect(Date.parse(created.expires_at ?? '') - Date.now()).toBeGreaterThan(0);
  expect((await whoAmI(server.url, created.token)).status).toBe(200);
  expect((await whoAmI(replica.url, created.token)).status).toBe(200);
  await pollUntil(async () => (await whoAmI(server.url, created.token)).status, { description: 'the token to expire', until: (status) => status === 401 });
  expect((await whoAmI(replica.url, created.token)).status).toBe(401);
});

test.each([['0'], ['400d'], ['soon'], [-5]])('expires_in %p is a 400 naming the field, nothing written', async (expiresIn) => {
  const before = await server.countAll();
  const answer = await server.request<OrError<object>>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'client', expires_in: expiresIn } });
  expect(answer.status).toBe(400);
  expect(answer.body.error?.issues?.map((issue) => issue.path)).toEqual(['expires_in']);
  expect(await server.countAll()).toEqual(before);
});

test('a disabled worker claims nothing, its running requests are requeued or aborted as for a lost worker, and it is told to stop them', async () => {
  const worker = await server.registerWorker({ concurrency: 4 });
  const requeued = await server.createWorkRequest({ interrupt_allowed: true, max_attempts: 3 });
  const aborted = await server.createWorkRequest({ interrupt_allowed: false });
  expect((await worker.claimOk({ max: 4 })).map((item) => item.id).sort((a, b) => a - b)).toEqual([requeued.id, aborted.id]);

  const disabled = expectStatus(await server.request<Worker>('POST', `/api/v1/workers/${worker.name}/disable`, { token: operatorToken }), 200, 'disable').body;
  expect(disabled).toEqual(expect.objectContaining({ name: worker.name, state: 'disabled', running: 0 }));
  const again = await server.getWorkRequest(requeued.id);
  expect({ status: again.status, attempt: again.attempt, worker: again.worker }).toEqual({ status: 'pending', attempt: 2, worker: null });
  expect(again.state_reason).toMatch(/disabled/);
  const gone = await server.getWorkRequest(aborted.id);
  expect({ status: gone.status, result: gone.result, code: gone.output_data?.errors?.[0]?.code }).toEqual({ status: 'aborted', result: 'error', code: 'worker_lost' });

  // Still authenticated: the heartbeat tells it to stop both; claims get nothing while pending work waits.
  const beat = expectStatus(await worker.heartbeat([requeued.id, aborted.id]), 200, 'heartbeat').body;
  expect([...beat.cancel].sort((a, b) => a - b)).toEqual([requeued.id, aborted.id]);
  expect(await worker.claimOk({ max: 4 })).toEqual([]);
  const listed = expectStatus(await server.request<{ workers: Worker[] }>('GET', '/api/v1/workers', { token: operatorToken }), 200, 'list workers').body.workers;
  expect(listed.find((item) => item.name === worker.name)?.state).toBe('disabled');

  // Enabled through the other replica.
  const enabled = expectStatus(await httpRequest<Worker>(replica.url, 'POST', `/api/v1/workers/${worker.name}/enable`, { token: operatorToken }), 200, 'enable').body;
  expect(enabled.state).not.toBe('disabled');
  expect((await worker.claimOk({ max: 4 })).map((item) => item.id)).toEqual([requeued.id]);
});

test('disable and enable: 404 for an unknown worker, 403 for a client token, nothing written', async () => {
  const before = await server.countAll();
  expect((await server.request('POST', '/api/v1/workers/no-such-worker/disable', { token: operatorToken })).status).toBe(404);
  const worker = await server.registerWorker();
  const after = await server.countAll();
  expect((await server.request('POST', `/api/v1/workers/${worker.name}/disable`, { token: server.clientToken })).status).toBe(403);
  expect((await server.countAll()).worker).toBe(before.worker + 1);
  expect(await server.countAll()).toEqual(after);
  const rows = await server.sql<{ enabled: boolean }>('select enabled from worker where name = $1', [worker.name]);
  expect(rows[0].enabled).toBe(true);
});

test('CLI: token create --expires, token list, token revoke, workers disable/enable', async () => {
  const env = { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: server.adminToken };
  const created = await runCli(['token', 'create', '--role', 'client', '--name', 'from-cli', '--expires', '30d'], { env });
  expect(created.code).toBe(0);
  const secret = created.stdout.trim();
  const id = Number(/#(\d+)/.exec(created.stderr)?.[1]);
  expect(created.stderr).toMatch(/expires 20\d\d-/);

  const listed = await runCli(['token', 'list'], { env });
  expect(listed.code).toBe(0);
  const row = listed.stdout.split('\n').find((line) => line.includes('from-cli'));
  expect(row).toMatch(new RegExp(`\\b${id}\\b.*client.*from-cli.*active.*never`));
  expect(listed.stdout).not.toContain(secret);

  const json = JSON.parse((await runCli(['token', 'list', '--json'], { env })).stdout) as ApiTokenInfo[];
  expect(json.find((token) => token.id === id)?.expires_at).not.toBeNull();

  const revoked = await runCli(['token', 'revoke', String(id)], { env });
  expect({ code: revoked.code, stdout: revoked.stdout }).toEqual({ code: 0, stdout: `revoked client token #${id} "from-cli"\n` });
  expect((await whoAmI(server.url, secret)).status).toBe(401);
  expect((await runCli(['token', 'list'], { env })).stdout.split('\n').find((line) => line.includes('from-cli'))).toMatch(/revoked/);

  const bad = await runCli(['token', 'create', '--role', 'client', '--expires', 'forever'], { env });
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  expect((await runCli(['token', 'revoke', 'x1'], { env })).code).toBe(2);

  const worker = await server.registerWorker();
  const disable = await runCli(['workers', 'disable', worker.name], { env: { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: operatorToken } });
  expect({ code: disable.code, stdout: disable.stdout }).toEqual({ code: 0, stdout: `worker ${worker.name} is disabled\n` });
  // Connection flags after the verb reach it too.
  const enable = await runCli(['workers', 'enable', worker.name, '--server', server.url, '--token', operatorToken], { env: {} });
  expect({ code: enable.code, stdout: enable.stdout }).toEqual({ code: 0, stdout: `worker ${worker.name} is idle\n` });
  const missing = await runCli(['workers', 'disable', 'no-such-worker'], { env });
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toMatch(/no worker named "no-such-worker"/);
}, 120_000);
