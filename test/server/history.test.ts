/**
 * Learned requirements: when a request is created, the history of successful runs of its key fills in what the
 * spec leaves open (memory and disk = p95 × headroom, cpu = p95 of cpu_time / duration), with a reason that
 * names the figures; the claim query then keeps the request from workers too small for it. Expected values are
 * worked out by hand below (PostgreSQL percentile_cont: linear interpolation between the sorted values).
 */
import type { TaskSpecInput } from '../../protocol/taskSpec';
import type { LearnedRequirement, WorkRequest } from '../../protocol/workRequest';
import type { CompleteWorkRequest } from '../../protocol/workerApi';
import { GiB, MiB, expectStatus, startTestServer, uniqueTaskName, type SimWorker, type TestServer } from '../helpers/server';

/** Creates a request, has `worker` claim exactly it, and completes it as told. */
async function runAttempt(s: TestServer, worker: SimWorker, spec: Partial<TaskSpecInput>, completion: CompleteWorkRequest): Promise<WorkRequest> {
  const created = await s.createWorkRequest(spec);
  const claimed = await worker.claimOk({ max: 5 });
  expect(claimed.map((item) => item.id)).toEqual([created.id]);
  return expectStatus(await worker.complete(created.id, completion), 200, `complete #${created.id}`).body;
}

function success(statistics: NonNullable<CompleteWorkRequest['output_data']>['runtime_statistics']): CompleteWorkRequest {
  return { result: 'success', output_data: { runtime_statistics: statistics } };
}

function learnedItem(request: WorkRequest, resource: LearnedRequirement['resource']): LearnedRequirement | undefined {
  return request.learned_requirements.find((item) => item.resource === resource);
}

async function claimedIds(worker: SimWorker): Promise<number[]> {
  return (await worker.claimOk({ max: 10 })).map((item) => item.id);
}

let server: TestServer | undefined;
let runner: SimWorker;

beforeEach(async () => {
  // The default headroom (learnedHeadroom) is 1.2: learned memory and disk = p95 × 1.2.
  server = await startTestServer();
  // Runs the history-building attempts: big enough for anything learned here.
  runner = await server.registerWorker({ totalMemory: 8 * GiB, cpuCount: 4, availableDisk: 100 * GiB });
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('learned memory', () => {
  test('p95 of the key’s peaks × 1.2, with a reason; a 256 MiB worker cannot claim it, a 1 GiB one can', async () => {
    const s = server!;
    const key = { task_name: uniqueTaskName('resize'), subject: 'img-42', context: 'amd64' };
    // Deliberately not in order: the percentile sorts.
    for (const peak of [290, 310, 300]) {
      await runAttempt(s, runner, key, success({ memory: peak * MiB, duration: 10, cpu_time: 5 }));
    }
    // Sorted 290, 300, 310 MiB; p95 position = 0.95 × (3 − 1) = 1.9 → 300 + 0.9 × (310 − 300) = 309 MiB
    // = 324 009 984 B; × 1.2 = 388 811 980.8 → rounded up to 388 811 981 B (370.8 MiB).
    const request = await s.createWorkRequest(key);
    const memory = learnedItem(request, 'memory');
    expect(memory?.value).toBe(388_811_981);
    expect(memory?.reason).toContain('309.0 MiB'); // the p95
    expect(memory?.reason).toContain('3 successful runs'); // the run count
    expect(memory?.reason).toContain(`${key.task_name}/img-42/amd64`); // the key
    expect(memory?.reason).toContain('370.8 MiB'); // the requirement itself
    expect(memory?.reason).toContain('1.2');
    expect(request.requirements).toEqual({}); // explicit requirements stay the spec's
    // cpu_time / duration = 0.5: one core is enough, so no cpu requirement is learned.
    expect(learnedItem(request, 'cpu')).toBeUndefined();
    // GET shows the same.
    expect((await s.getWorkRequest(request.id)).learned_requirements).toEqual(request.learned_requirements);
    expect(request.state_reason).toBeNull();

    const tiny = await s.registerWorker({ totalMemory: 256 * MiB });
    const onlyJustTooSmall = await s.registerWorker({ totalMemory: 388_811_980 });
    const medium = await s.registerWorker({ totalMemory: 1 * GiB });
    expect(await claimedIds(tiny)).toEqual([]);
    expect(await claimedIds(onlyJustTooSmall)).toEqual([]);
    expect(await claimedIds(medium)).toEqual([request.id]);
  });

  test('an explicit resources.memory wins: no learned memory item, and a small worker with enough for it can claim', async () => {
    const s = server!;
    const key = { task_name: uniqueTaskName('resize'), subject: 'img-7', context: 'amd64' };
    for (const peak of [290, 300, 310]) await runAttempt(s, runner, key, success({ memory: peak * MiB, duration: 4 }));

    const request = await s.createWorkRequest({ ...key, resources: { memory: '200MiB' } });
    expect(request.requirements).toEqual({ memory: 200 * MiB });
    expect(learnedItem(request, 'memory')).toBeUndefined();
    expect(learnedItem(request, 'time')).toBeDefined(); // other resources are still learned

    const tiny = await s.registerWorker({ totalMemory: 256 * MiB });
    expect(await claimedIds(tiny)).toEqual([request.id]);
  });
});

describe('learned cpu and disk', () => {
  test('cpu from cpu_time / duration when above one core, disk from peak disk_space; both keep small workers away', async () => {
    const s = server!;
    const key = { task_name: uniqueTaskName('compile'), subject: 'linux', context: 'x86' };
    const runs = [
      { duration: 10, cpu_time: 15, disk_space: 1 * GiB }, // 1.5 cores
      { duration: 10, cpu_time: 30, disk_space: 3 * GiB }, // 3.0 cores
      { duration: 10, cpu_time: 25, disk_space: 2 * GiB }, // 2.5 cores
    ];
    for (const stats of runs) await runAttempt(s, runner, key, success(stats));

    const request = await s.createWorkRequest(key);
    // cores sorted 1.5, 2.5, 3.0; p95 = 2.5 + 0.9 × 0.5 = 2.95 → 3 cpus.
    const cpu = learnedItem(request, 'cpu');
    expect(cpu?.value).toBe(3);
    expect(cpu?.reason).toContain('cpu_time / duration');
    expect(cpu?.reason).toContain(`3 successful runs of ${key.task_name}/linux/x86`);
    // disk sorted 1, 2, 3 GiB; p95 = 2 + 0.9 × 1 = 2.9 GiB = 3 113 851 289.6 B; × 1.2 = 3 736 621 547.52 → 3 736 621 548 B.
    const disk = learnedItem(request, 'disk');
    expect(disk?.value).toBe(3_736_621_548);
    expect(disk?.reason).toContain('2.9 GiB');
    expect(disk?.reason).toContain(`3 successful runs of ${key.task_name}/linux/x86`);
    // No memory figures were reported, nor available_memory: nothing is learned for memory.
    expect(learnedItem(request, 'memory')).toBeUndefined();
    // Durations 10, 10, 10 s: expected to take up to 10 s (informational).
    expect(learnedItem(request, 'time')?.value).toBe(10);

    const twoCores = await s.registerWorker({ cpuCount: 2, availableDisk: 100 * GiB });
    const smallDisk = await s.registerWorker({ cpuCount: 4, availableDisk: 3 * GiB });
    const fits = await s.registerWorker({ cpuCount: 4, availableDisk: 4 * GiB });
    expect(await claimedIds(twoCores)).toEqual([]);
    expect(await claimedIds(smallDisk)).toEqual([]);
    expect(await claimedIds(fits)).toEqual([request.id]);
  });

  test('runs under a second say nothing of cpu, and a run counts at most the cores its machine had: a 2-cpu worker still runs both', async () => {
    const s = server!;
    // 20 ms shell tasks whose start-up measured 100 ms of cpu on a 2-cpu machine: "5 cores", which once became
    // "needs 5 cpus" and left the request unschedulable on a 2-cpu worker. Too short to tell: nothing is learned.
    const short = { task_name: uniqueTaskName('echo') };
    for (let run = 0; run < 3; run += 1) await runAttempt(s, runner, short, success({ duration_ms: 20, cpu_time_ms: 100, cpu_count: 2 }));
    // 10 s runs that measured 2.5 and 5 cores on 2-cpu machines (a loaded host's accounting): capped at 2 each,
    // so the p95 is 2 → needs 2 cpus, which a 2-cpu worker has.
    const long = { task_name: uniqueTaskName('encode') };
    for (const cpuTimeMs of [25_000, 50_000, 50_000]) {
      await runAttempt(s, runner, long, success({ duration_ms: 10_000, cpu_time_ms: cpuTimeMs, cpu_count: 2 }));
    }

    const shortRequest = await s.createWorkRequest(short);
    expect(learnedItem(shortRequest, 'cpu')).toBeUndefined();
    expect(shortRequest.state_reason).toBeNull();
    const longRequest = await s.createWorkRequest(long);
    expect(learnedItem(longRequest, 'cpu')?.value).toBe(2);
    expect(longRequest.state_reason).toBeNull();

    // One 2-cpu worker each: the claim counts the cpus a worker's running requests hold.
    const twoCores = await s.registerWorker({ cpuCount: 2, availableDisk: 100 * GiB });
    const otherTwoCores = await s.registerWorker({ cpuCount: 2, availableDisk: 100 * GiB });
    expect(await claimedIds(twoCores)).toEqual([shortRequest.id]);
    expect(await claimedIds(otherTwoCores)).toEqual([longRequest.id]);
  });

  test('without measured peaks, seed 000’s reference data (available_memory at start) sets a floor', async () => {
    const s = server!;
    const key = { task_name: uniqueTaskName('legacy') };
    await runAttempt(s, runner, key, success({ available_memory: 3 * GiB, duration: 1 }));
    await runAttempt(s, runner, key, success({ available_memory: 2 * GiB, duration: 1 }));
    const request = await s.createWorkRequest(key);
    const memory = learnedItem(request, 'memory');
    expect(memory?.value).toBe(2 * GiB); // the smallest that worked
    expect(memory?.reason).toMatch(/no measured peaks/);
  });
});

describe('fallback from (task, subject, context) to (task, subject) to task', () => {
  test('a new context learns from the subject’s other contexts, a new subject from the task; the reason says which', async () => {
    const s = server!;
    const taskName = uniqueTaskName('build');
    for (const peak of [120, 140, 130]) {
      await runAttempt(s, runner, { task_name: taskName, subject: 'lib', context: 'amd64' }, success({ memory: peak * MiB }));
    }
    // Sorted 120, 130, 140 MiB; p95 = 130 + 0.9 × 10 = 139 MiB = 145 752 064 B; × 1.2 = 174 902 476.8 → 174 902 477 B.
    const newContext = await s.createWorkRequest({ task_name: taskName, subject: 'lib', context: 'arm64' });
    expect(learnedItem(newContext, 'memory')?.value).toBe(174_902_477);
    expect(learnedItem(newContext, 'memory')?.reason).toContain(`3 successful runs of ${taskName}/lib (any context)`);

    const newSubject = await s.createWorkRequest({ task_name: taskName, subject: 'app', context: 'amd64' });
    expect(learnedItem(newSubject, 'memory')?.value).toBe(174_902_477);
    expect(learnedItem(newSubject, 'memory')?.reason).toContain(`3 successful runs of ${taskName} (any subject)`);

    const bare = await s.createWorkRequest({ task_name: taskName });
    expect(learnedItem(bare, 'memory')?.reason).toContain(`${taskName} (any subject)`);

    const sameKey = await s.createWorkRequest({ task_name: taskName, subject: 'lib', context: 'amd64' });
    expect(learnedItem(sameKey, 'memory')?.reason).toContain(`3 successful runs of ${taskName}/lib/amd64`);

    // Clear the queue, then give arm64 its own success: the most specific level with successes wins from now on.
    const busy = await s.registerWorker({ totalMemory: 8 * GiB, concurrency: 10 });
    expect((await claimedIds(busy)).sort((a, b) => a - b)).toEqual([newContext.id, newSubject.id, bare.id, sameKey.id]);
    await runAttempt(s, runner, { task_name: taskName, subject: 'lib', context: 'arm64' }, success({ memory: 501 * MiB }));
    // One run: p95 = 501 MiB = 525 336 576 B; × 1.2 = 630 403 891.2 → 630 403 892 B.
    const own = await s.createWorkRequest({ task_name: taskName, subject: 'lib', context: 'arm64' });
    expect(learnedItem(own, 'memory')?.value).toBe(630_403_892);
    expect(learnedItem(own, 'memory')?.reason).toContain(`1 successful run of ${taskName}/lib/arm64`);
  });

  test('failed runs teach nothing: a key whose runs all failed falls back to the wider level’s successes', async () => {
    const s = server!;
    const taskName = uniqueTaskName('build');
    await runAttempt(s, runner, { task_name: taskName, subject: 'lib', context: 'amd64' }, success({ memory: 139 * MiB }));
    await runAttempt(s, runner, { task_name: taskName, subject: 'lib', context: 'arm64', max_attempts: 1 }, {
      result: 'failure',
      output_data: { runtime_statistics: { memory: 4 * GiB }, errors: [{ code: 'exit_code', message: 'exit 1' }] },
    });
    const request = await s.createWorkRequest({ task_name: taskName, subject: 'lib', context: 'arm64' });
    // From the amd64 success only: 139 MiB × 1.2 = 174 902 476.8 → 174 902 477 B.
    expect(learnedItem(request, 'memory')?.value).toBe(174_902_477);
    expect(learnedItem(request, 'memory')?.reason).toContain(`${taskName}/lib (any context)`);
  });
});

describe('use_history: false', () => {
  test('no learned requirements, and its run leaves no history row nor counter', async () => {
    const s = server!;
    const key = { task_name: uniqueTaskName('opt-out'), subject: 's', context: 'c' };
    await runAttempt(s, runner, key, success({ memory: 309 * MiB }));
    const historyRows = async () => Number((await s.sql<{ n: string }>(`select count(*) as n from task_history where task_name = $1`, [key.task_name]))[0].n);
    const keyRuns = async () => {
      await s.runHousekeeping(); // folds the counted runs into task_key
      return (await s.sql<{ runs: number }>(`select runs from task_key where task_name = $1`, [key.task_name]))[0]?.runs;
    };
    expect(await historyRows()).toBe(1);
    expect(await keyRuns()).toBe(1);

    const optedOut = await runAttempt(s, runner, { ...key, use_history: false }, success({ memory: 5 * GiB }));
    expect(optedOut.learned_requirements).toEqual([]);
    expect(optedOut.task_data.use_history).toBe(false);
    expect(await historyRows()).toBe(1);
    expect(await keyRuns()).toBe(1);

    // The 5 GiB run did not count: the key still learns 309 MiB × 1.2 = 388 811 980.8 → 388 811 981 B.
    const next = await s.createWorkRequest(key);
    expect(learnedItem(next, 'memory')?.value).toBe(388_811_981);
    expect(learnedItem(next, 'memory')?.reason).toContain('1 successful run of');
  });
});
