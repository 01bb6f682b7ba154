/**
 * `worksched schedule add|list|show|pause|resume|trigger|rm` against a real server: readable tables and
 * lines, a bad cron expression is exit code 2 with one line naming the field, and nothing is created.
 */
import { startTestServer, type TestServer } from './helpers/server';
import { runCli } from './helpers/cli';

jest.setTimeout(60_000);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const cli = (verb: string, ...args: string[]) => runCli(['schedule', verb, '--server', server.url, '--token', server.clientToken, ...args]);

test('add, list, show, pause, resume, trigger and rm a schedule', async () => {
  const added = await cli('add', 'nightly-backup', '--cron', '0 3 * * *', '--timezone', 'Europe/Paris', '--task-name', 'backup', '--', '/bin/true');
  expect([added.code, added.stderr]).toEqual([0, '']);
  expect(added.stdout).toContain('schedule nightly-backup (active)');
  expect(added.stdout).toContain('cron 0 3 * * * (Europe/Paris)');
  expect(added.stdout.match(/T03:00:00\.000\+01:00/g)).toHaveLength(5);
  expect((await cli('add', 'poll', '--every', '1h', '--task-name', 'poll', '--paused', '--', '/bin/true')).code).toBe(0);

  const listed = await cli('list');
  expect(listed.code).toBe(0);
  const lines = listed.stdout.split('\n');
  expect(lines.find((line) => line.includes('nightly-backup'))).toMatch(/cron 0 3 \* \* \* \(Europe\/Paris\).*active.*never/);
  expect(lines.find((line) => line.includes('poll'))).toMatch(/every 3600s.*paused/);

  const triggered = await cli('trigger', 'nightly-backup');
  expect(triggered.code).toBe(0);
  const id = Number(/work request (\d+)/.exec(triggered.stdout)?.[1]);
  expect((await server.getWorkRequest(id)).schedule).toBe('nightly-backup');
  const shown = await cli('show', 'nightly-backup');
  expect(shown.stdout).toMatch(new RegExp(`last: +\\d+s ago: #${id} pending`));
  expect(shown.stdout).toMatch(/firings: +1 /);

  expect((await cli('pause', 'nightly-backup')).stdout).toBe('paused nightly-backup\n');
  expect((await cli('resume', 'nightly-backup')).stdout).toMatch(/^resumed nightly-backup; next fire time \S+T03:00:00\.000\+01:00\n$/);
  expect((await cli('rm', 'poll')).stdout).toBe('deleted schedule poll\n');
  const gone = await cli('show', 'poll');
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain('schedule "poll" does not exist');
});

test('a bad cron expression is exit code 2 with one line naming trigger.cron; nothing is created', async () => {
  const before = await server.countRows('schedule');
  const bad = await cli('add', 'broken', '--cron', '61 * * * *', '--task-name', 'x', '--', '/bin/true');
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  expect(bad.stderr).toMatch(/trigger\.cron: minute: 61 is a invalid expression for minute/);
  const none = await cli('add', 'broken', '--task-name', 'x', '--', '/bin/true');
  expect([none.code, none.stderr.trim()]).toEqual([2, 'worksched: give one of --cron, --every or --files']);
  expect(await server.countRows('schedule')).toBe(before);
});
