/**
 * The SDK's feed over an endless generator with a real worker: N tasks in flight, sampled for a minute of
 * tasks (the check). In a file of its own, so that its minute runs beside the other run tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowTaskInput } from '../../protocol/workflow';
import type { WorkerProcess } from '../helpers/workerProcess';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, RUN_TAG_ENTRY, startE2EServer, startWorker, tmpDir, uniqueName, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(150_000);

let server: E2EServer;
let worker: WorkerProcess;
const SAMPLED_MS = 60_000;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server, { concurrency: 4, env: { WORKSCHED_COST_PER_HOUR: '36' } });
});

afterAll(async () => {
  await cleanup(server);
});

const [tagName, tagValue] = RUN_TAG_ENTRY.split('=');

test('feed over an endless generator keeps exactly N tasks in flight for a minute', withProcessLogs(async () => {
  expect(worker.alive).toBe(true);
  const runId = uniqueName('endless');
  // Writable by all: concurrent tasks run as different users (worker/taskUsers.ts).
  const file = path.join(tmpDir('endless'), 'effects');
  fs.writeFileSync(file, '');
  fs.chmodSync(file, 0o666);
  const inFlight = 3;
  function* endless(): Generator<WorkflowTaskInput> {
    for (let index = 0; ; index += 1) {
      yield { task_id: `e${index}`, task_name: 'runs-e2e', execution: { executable: '/bin/sh', args: ['-c', `sleep 1; echo e${index} >> ${file}`], env: { [tagName]: tagValue } } };
    }
  }
  const handle = server.client.feed(runId, endless(), { inFlight });
  const samples: Array<{ at: number; feed: number; server: number }> = [];
  // Sampling starts once the first N are in flight; tasks take a second, refills milliseconds.
  await pollUntil(() => handle.progress().inFlight === inFlight, { description: 'N in flight' });
  const until = Date.now() + SAMPLED_MS;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const run = await server.client.getWorkflow(runId);
    samples.push({ at: Date.now(), feed: handle.progress().inFlight, server: run.task_counts.pending + run.task_counts.running + run.task_counts.blocked });
  }
  handle.stop();
  const final = await handle.done;
  // Dozens of tasks came and went (how many depends on the machine's load), each side effect once.
  expect(final.done).toBeGreaterThan(20);
  const effects = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  expect(new Set(effects).size).toBe(effects.length);
  // The samples cover the minute.
  expect(samples.length).toBeGreaterThan(30);
  expect(samples[samples.length - 1].at - samples[0].at).toBeGreaterThan(SAMPLED_MS - 2_000);
  expect(samples.every((sample) => sample.feed <= inFlight && sample.server <= inFlight)).toBe(true);
  // Between a task's end and its successor's submission the feed has N - 1 (one add-tasks round trip): most
  // samples see exactly N, none more.
  const atN = samples.filter((sample) => sample.server === inFlight).length / samples.length;
  if (atN < 0.6) throw new Error(`only ${Math.round(atN * 100)} % of samples saw ${inFlight} in flight: ${JSON.stringify(samples)}`);
  expect((await server.client.getWorkflow(runId)).open).toBe(true);
}));
