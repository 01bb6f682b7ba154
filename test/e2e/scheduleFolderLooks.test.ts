/**
 * A files trigger lists its folder only when the folder's stamp (inode + mtime) changed, or every
 * WORKSCHED_SCHEDULE_FILES_RESCAN_S, with a real worker. The server's own tick is stopped and the tick driven
 * by hand, so each look is counted: a quiet folder costs none, a new file one, and a file rewritten in place
 * (its folder's mtime unchanged) is found by the periodic look and fires as a new file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkRequest } from '../../protocol/workRequest';
import { RACY_STAMP_MS } from '../../server/schedules/folderStamp';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, sleep, startE2EServer, startWorker, task, tmpDir, uniqueName, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(90_000);

const RESCAN_S = 4;
let server: E2EServer;

beforeAll(async () => {
  server = await startE2EServer({ settings: { scheduleFilesRescanS: RESCAN_S } });
  await server.running.housekeeping.stop();
});

afterAll(async () => {
  await cleanup(server);
});

const tick = () => server.running.housekeeping.fireSchedulesOnce();

test(
  'a quiet folder is not listed; a new file is; a file rewritten in place is found by the periodic look',
  withProcessLogs(async () => {
    const worker = await startWorker(server, { concurrency: 2 });
    const inbox = tmpDir('looks');
    const name = uniqueName('looks');
    await server.client.createSchedule({ name, trigger: { files: { folder: inbox } }, spec: { ...task('/bin/echo'), filepath_parameter: ['input'] } });
    const settle = async () => {
      // The folder's mtime is trusted once it is older than RACY_STAMP_MS at the look.
      await sleep(RACY_STAMP_MS + 200);
      expect(await tick()).toMatchObject({ looked: 1 });
    };
    const work = async (): Promise<WorkRequest[]> => (await server.client.listWorkRequests({ schedule: name })).work_requests.sort((a, b) => a.id - b.id);

    await settle();
    const quiet = [await tick(), await tick(), await tick()];
    expect(quiet.map((report) => report.looked)).toEqual([0, 0, 0]);

    const file = path.join(inbox, 'a.dat');
    fs.writeFileSync(file, 'one\n');
    expect(await tick()).toMatchObject({ looked: 1, fired: 1 });
    await settle();
    const looksBefore = Date.now();

    // Rewritten in place: same name, new size and mtime, the folder's mtime unchanged.
    fs.writeFileSync(file, 'two, longer\n');
    expect(await tick()).toMatchObject({ looked: 0, fired: 0 });
    let fired = 0;
    while (fired === 0) {
      expect(Date.now() - looksBefore).toBeLessThan((RESCAN_S + 3) * 1000);
      await sleep(250);
      const report = await tick();
      fired = report.fired;
      if (report.looked === 1) expect(Date.now() - looksBefore).toBeGreaterThanOrEqual(RESCAN_S * 1000 - 1000);
    }
    expect(fired).toBe(1);
    expect(await tick()).toMatchObject({ looked: 0, fired: 0 });

    const done = await pollUntil(work, { description: 'both versions to run', until: (list) => list.length === 2 && list.every((item) => item.status === 'completed') });
    expect(done.map((item) => [item.task_data.execution.parameters.input, item.result])).toEqual([[file, 'success'], [file, 'success']]);
    expect(await server.client.getSchedule(name)).toMatchObject({ firings_count: 2, pending_files: 0 });
    worker.killGroup();
  }),
);
