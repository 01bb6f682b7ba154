/**
 * A worker registers once: restarted with the same work dir it reuses its saved identity (no enrollment token
 * needed, no second worker on the server).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startWorkerProcess } from '../helpers/workerProcess';
import { cleanup, freePort, shellTask, startE2EServer, startWorker, tmpDir, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
const laterServers: E2EServer[] = [];

beforeAll(async () => {
  server = await startE2EServer();
}, 60_000);

afterAll(async () => {
  await cleanup(server, ...laterServers);
});

describe('worker identity across restarts', () => {
  it('a restarted worker keeps its id and needs no enrollment token', withProcessLogs(async () => {
    const name = uniqueName('steady');
    const workDir = tmpDir('worker');
    const first = await startWorker(server, { name, workDir });
    const one = await server.client.createWorkRequest(shellTask('echo one'));
    const doneOne = await waitForEnd(server.client, one.id);
    expect(doneOne).toMatchObject({ status: 'completed', result: 'success', worker: { name } });
    const workerId = doneOne.worker!.id;
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    // The saved identity holds a token: only its owner may read it.
    const identityFile = path.join(workDir, '.state', 'identity.json');
    expect(fs.statSync(identityFile).mode & 0o077).toBe(0);

    const second = startWorkerProcess({ server: server.url, name, workDir }); // no enrollment token
    await second.ready();
    expect(second.records().find((record) => record.msg === `reusing the saved identity of worker ${workerId} (${name})`)).toMatchObject({ workerId });
    expect(second.output()).not.toMatch(/registered/);
    const two = await server.client.createWorkRequest(shellTask('echo two'));
    const doneTwo = await waitForEnd(server.client, two.id);
    expect(doneTwo).toMatchObject({ status: 'completed', result: 'success', worker: { id: workerId, name } });

    const workers = await server.client.listWorkers();
    expect(workers.map((worker) => ({ id: worker.id, name: worker.name }))).toEqual([{ id: workerId, name }]);
    expect(workers[0].state).not.toBe('offline');
  }));

  it('a worker restarted with another spelling of its server\'s URL keeps its identity once the server accepts its token', withProcessLogs(async () => {
    const name = uniqueName('respelled');
    const workDir = tmpDir('worker');
    const first = await startWorker(server, { name, workDir });
    const workerId = (await server.client.listWorkers()).find((worker) => worker.name === name)!.id;
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const respelled = `${server.url}/`;
    const second = startWorkerProcess({ server: respelled, name, workDir }); // no enrollment token
    await second.ready();
    expect(second.output()).toContain(`reusing the saved identity of worker ${workerId} (${name})`);
    expect(JSON.parse(fs.readFileSync(path.join(workDir, '.state', 'identity.json'), 'utf8'))).toMatchObject({ server: respelled, worker_id: workerId });
    expect((await server.client.listWorkers()).filter((worker) => worker.name === name).map((worker) => worker.id)).toEqual([workerId]);
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }));

  it('a worker with neither an enrollment token nor a saved identity exits with a clear message', withProcessLogs(async () => {
    const lonely = startWorkerProcess({ server: server.url, name: uniqueName('lonely'), workDir: tmpDir('worker') });
    const exit = await lonely.waitForExit(20_000);
    expect(exit).not.toBeNull(); // it gave up instead of retrying for ever
    expect(exit!.code).toBeGreaterThan(0);
    expect(lonely.output()).toMatch(/enrollment.token/i);
    expect((await server.client.listWorkers()).map((worker) => worker.name)).not.toContain(lonely.options.name);
  }));

  it('a worker started before its server waits for it, then registers and works', withProcessLogs(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const enrollmentToken = `wse_${randomBytes(16).toString('hex')}`;
    const early = startWorkerProcess({ server: url, name: uniqueName('early'), workDir: tmpDir('worker'), enrollmentToken });
    // It retries (a second failed attempt after its back-off) instead of giving up.
    let failedAttempts = 0;
    await early.waitForLine((line) => /server may not be up yet/.test(line) && (failedAttempts += 1) === 2, 30_000);
    expect(early.alive).toBe(true);

    const late = await startE2EServer({ port, enrollmentToken });
    laterServers.push(late);
    await early.ready(30_000);
    const created = await late.client.createWorkRequest(shellTask('echo hello'));
    expect(await waitForEnd(late.client, created.id)).toMatchObject({ status: 'completed', result: 'success', worker: { name: early.options.name } });
  }), 60_000);
});
