/**
 * Efficiency per key (Slurm's seff) with a real worker: a key that asks 4 GiB and 2 cpus and uses about
 * 300 MiB and no core shows a memory efficiency near 0.07, a suggestion near the learned requirement
 * (p95 × headroom), in GET /statistics/tasks (sortable by waste) and `worksched stats --efficiency`.
 */
import type { TaskStatistics } from '../../protocol/statistics';
import { runCli } from '../helpers/cli';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, MiB, python3, startServerAndWorker, task, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(90_000);

let server: E2EServer | undefined;
afterAll(async () => {
  await cleanup(server);
});

const GiB = 1024 * MiB;
const HEADROOM = 1.2; // the server's default learned-requirement headroom

test(
  'a key asking 4 GiB and using ~300 MiB: efficiency ≈ 0.07, a suggestion near the learned requirement, first by waste',
  withProcessLogs(async () => {
    const started = await startServerAndWorker();
    server = started.server;
    const { client } = server;
    const oversized = uniqueName('seff-big');
    const python = python3();
    const holds300MiB = ['-c', 'b = bytearray(300 * 1024 * 1024); import time; time.sleep(0.2)'];
    const runs = await client.createWorkRequests([
      ...Array.from({ length: 3 }, () => task(python, holds300MiB, { task_name: oversized, resources: { memory: '4GiB', cpu: 2 } })),
      // Same use, asked about right: less waste, so it sorts after.
      task(python, holds300MiB, { task_name: uniqueName('seff-fit'), resources: { memory: '400MiB' } }),
      // Nothing explicit: no efficiency at all.
      task('/bin/true', [], { task_name: uniqueName('seff-none') }),
    ]);
    for (const run of runs) expect((await waitForEnd(client, run.id)).result).toBe('success');

    const row = await pollUntil(async () => (await client.getTaskStatistics({ task_name: oversized })).tasks[0], {
      until: (found: TaskStatistics | undefined) => found?.efficiency?.runs === 3,
      description: 'the efficiency of the oversized key',
    });
    const memory = row.efficiency!.memory!;
    expect(memory.asked).toBe(4 * GiB);
    expect(memory.used_p95).toBeGreaterThanOrEqual(300 * MiB);
    expect(memory.ratio).toBeGreaterThan(0.065);
    expect(memory.ratio).toBeLessThan(0.09);
    // The learned-requirement rule on the same runs: p95 × headroom (rounded up to a MiB).
    expect(memory.suggested).toBeGreaterThanOrEqual(memory.used_p95 * HEADROOM);
    expect(memory.suggested - memory.used_p95 * HEADROOM).toBeLessThan(MiB);
    expect(memory.suggested).toBeLessThan(450 * MiB);
    expect(memory.waste_gib_hours).toBeGreaterThan(0);
    const cpu = row.efficiency!.cpu!;
    expect(cpu).toMatchObject({ asked: 2, suggested: 1 });
    expect(cpu.ratio).toBeLessThan(0.5);

    const none = (await client.getTaskStatistics({ task_name: runs[4].task_name })).tasks[0];
    expect(none.efficiency).toBeNull();

    await pollUntil(async () => (await client.getTaskStatistics({ task_name: runs[3].task_name })).tasks[0], {
      until: (found: TaskStatistics | undefined) => found?.efficiency?.runs === 1,
      description: 'the efficiency of the well-sized key',
    });
    const byWaste = await client.getTaskStatistics({ sort: '-memory_waste', limit: 3 });
    expect(byWaste.tasks.map((item) => item.task_name)).toEqual([oversized, runs[3].task_name, expect.any(String)]);
    expect(byWaste.tasks[2].efficiency).toBeNull();

    const cli = await runCli(['stats', '--efficiency', '--server', server.url, '--token', server.adminToken]);
    expect(cli.code).toBe(0);
    const lines = cli.stdout.split('\n');
    expect(lines.find((line) => line.includes('mem asked'))).toMatch(/key.*mem asked.*mem used p95.*mem eff.*mem suggested/);
    expect(lines.findIndex((line) => line.includes(oversized))).toBeLessThan(lines.findIndex((line) => line.includes(runs[3].task_name)));
    expect(lines.find((line) => line.includes(oversized))).toMatch(/4\.0 GiB.*[78](\.\d)?%/);
    expect(cli.stdout).not.toContain(runs[4].task_name);
  }),
);
