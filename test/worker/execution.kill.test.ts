import { existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { measurementMethod, testWithCgroups } from '../helpers/capabilities';
import { pollUntil } from '../helpers/waitFor';
import { taskSpawner } from '../../worker/execution';
import { makeRequest, NODE, processesOf, removeWorkRoots, run, type Run } from './helpers';

jest.setTimeout(60_000);
afterAll(removeWorkRoots);

/** Wait until the task has written its marker file (so its children exist), at most 10 s. */
async function waitForFile(path: string): Promise<void> {
  await pollUntil(() => existsSync(path), { description: `${path} to exist`, timeoutMs: 10_000, intervalMs: 50 });
}

/** Wait until the task has at least `min` live processes, at most 10 s. */
async function waitForTaskProcesses(id: number, min: number): Promise<void> {
  await pollUntil(() => processesOf(id), { until: (pids) => pids.length >= min, description: `${min} live process(es) of work request ${id}`, timeoutMs: 10_000, intervalMs: 50 });
}

/** 1 s of cpu, then a marker file, then hang around. */
const burnThenSleep = `for (;;) { const u = process.cpuUsage(); if (u.user + u.system >= 1e6) break; } require("fs").writeFileSync("burnt", ""); setTimeout(() => {}, 300000);`;

describe('process cleanup and killing', () => {
  describe('a setsid-detached grandchild', () => {
    // The grandchild burns 1 s of cpu, then sleeps; the main process exits once it has burnt. One run serves both tests.
    let detached: Promise<Run & { requestId: number }> | undefined;
    const runDetached = () =>
      (detached ??= (async () => {
        const script = `setsid "${NODE}" -e '${burnThenSleep}' </dev/null >/dev/null 2>&1 & until [ -e burnt ]; do sleep 0.1; done`;
        const request = makeRequest({ executable: 'sh', args: ['-c', script] });
        return { ...(await run(request)), requestId: request.id };
      })());

    test('is killed when the task exits', async () => {
      const { outcome, system, requestId } = await runDetached();
      expect(outcome.result).toBe('success');
      expect(system).toMatch(/killed processes the task left behind/);
      expect(processesOf(requestId)).toEqual([]);
    });

    testWithCgroups('has its cpu counted under cgroups', async () => {
      const stats = (await runDetached()).outcome.output_data.runtime_statistics!;
      expect(stats.measurement).toBe(measurementMethod);
      expect(stats.cpu_time_ms).toBeGreaterThanOrEqual(800);
    });
  });

  test('a grandchild holding stdout open does not keep the task running', async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', 'setsid sleep 300 & echo started'] });
    const started = Date.now();
    const { outcome, stdout } = await run(request);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(outcome.result).toBe('success');
    expect(stdout).toBe('started\n');
    expect(processesOf(request.id)).toEqual([]);
  });

  test('time limit: SIGTERM at the limit, failure time_limit_exceeded, nothing survives', async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', 'setsid sleep 300 & sleep 30'] }, { time_limit_s: 1 });
    const started = Date.now();
    const { outcome, system } = await run(request, { killGraceMs: 500 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(4000);
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors).toEqual([
      { code: 'time_limit_exceeded', message: expect.stringContaining('1 s'), time_limit_s: 1 },
    ]);
    expect(outcome.output_data.runtime_statistics!.duration).toBe(1);
    expect(system).toMatch(/time limit of 1 s reached/);
    expect(processesOf(request.id)).toEqual([]);
  });

  test('time limit: a task ignoring SIGTERM is SIGKILLed after the grace', async () => {
    const request = makeRequest({ executable: NODE, args: ['-e', 'process.on("SIGTERM", () => {}); setTimeout(() => {}, 60000)'] }, { time_limit_s: 1 });
    const started = Date.now();
    const { outcome, system } = await run(request, { killGraceMs: 700 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1700);
    expect(elapsed).toBeLessThan(5000);
    expect(outcome.output_data.errors?.[0].code).toBe('time_limit_exceeded');
    expect(system).toMatch(/grace of 700 ms over: SIGKILL/);
    expect(processesOf(request.id)).toEqual([]);
  });

  test("kill('cancelled') ends the task within 2 s even if it ignores SIGTERM; outcome aborted", async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', `trap "" TERM; "${NODE}" -e 'process.on("SIGTERM", () => {}); setTimeout(() => {}, 60000)'; sleep 60`] });
    let killedAt = 0;
    let goneAfter = Infinity;
    const { outcome } = await run(request, { killGraceMs: 60_000 }, async (task) => {
      await waitForTaskProcesses(request.id, 2);
      expect(processesOf(request.id).length).toBeGreaterThanOrEqual(2);
      killedAt = Date.now();
      task.kill('cancelled');
      await pollUntil(() => processesOf(request.id), { until: (pids) => pids.length === 0, description: 'the cancelled task to be gone', timeoutMs: 5000, intervalMs: 50 });
      goneAfter = Date.now() - killedAt;
    });
    expect(goneAfter).toBeLessThan(2000);
    expect(Date.now() - killedAt).toBeLessThan(2500); // done resolves right after (cleanup, removal)
    expect(outcome.result).toBe('aborted');
    expect(outcome.output_data.errors).toEqual([{ code: 'cancelled', message: expect.any(String) }]);
    expect(processesOf(request.id)).toEqual([]);
  });

  test("kill('cancelled') on a cooperative task is immediate", async () => {
    const request = makeRequest({ executable: 'sleep', args: ['30'] });
    let killedAt = 0;
    const { outcome, system } = await run(request, {}, async (task) => {
      await waitForTaskProcesses(request.id, 1);
      killedAt = Date.now();
      task.kill('cancelled');
      task.kill('shutdown'); // the first reason wins
    });
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(outcome.result).toBe('aborted');
    expect(outcome.output_data.errors?.[0].code).toBe('cancelled');
    expect(system).toMatch(/killing the task \(cancelled\)/);
  });

  test("kill('shutdown') gives worker_shutdown and waits for a cleanly exiting task", async () => {
    const request = makeRequest({ executable: NODE, args: ['-e', 'require("fs").writeFileSync("ready", ""); process.on("SIGTERM", () => setTimeout(() => process.exit(0), 300)); setTimeout(() => {}, 60000)'] });
    const { outcome } = await run(request, { killGraceMs: 5000 }, async (task) => {
      await waitForFile(join(task.workdir, 'ready'));
      task.kill('shutdown');
    });
    expect(outcome.result).toBe('aborted');
    expect(outcome.output_data.errors).toEqual([{ code: 'worker_shutdown', message: expect.any(String) }]);
  });

  test('kill() right after startTask, before the process is spawned, never runs it', async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', 'touch ran; sleep 5'] });
    const { outcome, task } = await run(request, { keepWorkdir: true }, (running) => running.kill('cancelled'));
    expect(outcome.result).toBe('aborted');
    expect(task.pid).toBeUndefined();
    expect(existsSync(join(task.workdir, 'ran'))).toBe(false);
  });
});

describe('the task spawner process', () => {
  const parentOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };

  test('starts the tasks: a task is its child, not the worker\'s, in a process group of its own', async () => {
    // Its pid, its parent's, and its process group (the 5th field of /proc/PID/stat).
    const request = makeRequest({ executable: 'sh', args: ['-c', 'echo "$$ $PPID $(cut -d" " -f5 /proc/$$/stat)"'] });
    const { outcome, stdout } = await run(request);
    expect(outcome.result).toBe('success');
    const [pid, parent, group] = stdout.trim().split(/\s+/).map(Number);
    expect(taskSpawner.pid).toEqual(expect.any(Number));
    expect(parent).toBe(taskSpawner.pid);
    expect(parent).not.toBe(process.pid);
    expect(group).toBe(pid);
  });

  test('killed while a task runs: the task is killed too and ends as error worker_lost; the next task gets a new spawner', async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', 'echo up; sleep 300'] });
    let spawner: number | undefined;
    const { outcome, system } = await run(request, {}, async (task) => {
      await waitForTaskProcesses(request.id, 1);
      expect(parentOf(task.pid!)).toBe(taskSpawner.pid);
      spawner = taskSpawner.pid!;
      process.kill(spawner, 'SIGKILL');
    });
    expect(outcome.result).toBe('error');
    expect(outcome.output_data.errors).toEqual([{ code: 'worker_lost', message: "the worker's task spawner process died while the task ran" }]);
    expect(system).toMatch(/task spawner process died: process \d+ was killed/);
    await pollUntil(() => processesOf(request.id), { until: (pids) => pids.length === 0, description: 'the task gone', timeoutMs: 5_000, intervalMs: 50 });

    const next = await run(makeRequest({ script: 'echo again' }));
    expect(next.outcome.result).toBe('success');
    expect(next.stdout).toBe('again\n');
    expect(taskSpawner.pid).not.toBe(spawner);
  });

  test('retired (as when idle) and needed again at once: the next task runs on a new spawner, whatever the old one does as it exits', async () => {
    expect((await run(makeRequest({ script: 'echo first' }))).outcome.result).toBe('success');
    const retired = taskSpawner.pid;
    taskSpawner.close();
    const next = await run(makeRequest({ script: 'sleep 0.3; echo second' }));
    expect(next.outcome.result).toBe('success');
    expect(next.stdout).toBe('second\n');
    expect(taskSpawner.pid).not.toBe(retired);
  });
});
