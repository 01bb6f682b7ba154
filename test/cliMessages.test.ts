/**
 * What the CLI says when the way it is called is wrong: one line on stderr naming what is wrong and what to do,
 * exit code 2, and nothing sent to a server. Also `--version`.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli';
import { REPO_ROOT } from './helpers/workerProcess';

jest.setTimeout(60_000);

let dataDir: string;
const credentials = () => path.join(dataDir, 'credentials.json');

let closedUrl: string;

/** A port nothing listens on: one the kernel just gave us, closed again. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-messages-'));
  // A local server's credentials file, pointing where nothing answers.
  closedUrl = `http://127.0.0.1:${await closedPort()}`;
  fs.writeFileSync(credentials(), JSON.stringify({ server_url: closedUrl, admin_token: 'wst_saved', enrollment_token: 'wse_saved' }));
});

afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^[^\n]+\n$/);
  expect(result.stderr).toMatch(pattern);
  expect(result.code).toBe(2);
}

test('an empty WORKSCHED_TOKEN is said to be empty, not "no credentials file" (the file exists)', async () => {
  const result = await runCli(['show'], { env: { WORKSCHED_DATA_DIR: dataDir, WORKSCHED_TOKEN: '' } });
  expectOneLine(result, /^worksched: WORKSCHED_TOKEN is set but empty: set it to an API token .*, or unset it to use the admin token in \S+credentials\.json\n$/);
  expect(result.stderr).toContain(credentials());
});

test('an empty WORKSCHED_URL is said to be empty, naming the URL that unsetting it would use', async () => {
  const result = await runCli(['show'], { env: { WORKSCHED_DATA_DIR: dataDir, WORKSCHED_URL: '' } });
  expectOneLine(result, /^worksched: WORKSCHED_URL is set but empty: set it to the server's URL, e\.g\. http:\/\/127\.0\.0\.1:8080, or unset it to use the URL in \S+ \(http:\/\/127\.0\.0\.1:\d+\)\n$/);
  expect(result.stderr).toContain(`(${closedUrl})`);
});

test('a server given without http:// gets the URL it probably meant', async () => {
  const [flag, fromEnv, nonsense] = await Promise.all([
    runCli(['show', '--server', 'localhost:8080'], { env: { WORKSCHED_DATA_DIR: dataDir } }),
    runCli(['workers'], { env: { WORKSCHED_DATA_DIR: dataDir, WORKSCHED_URL: 'scheduler.example:8080/' } }),
    runCli(['show', '--server', 'not a url'], { env: { WORKSCHED_DATA_DIR: dataDir } }),
  ]);
  expectOneLine(flag, /^worksched: --server "localhost:8080" is not an http:\/\/ or https:\/\/ URL; did you mean http:\/\/localhost:8080\?\n$/);
  expectOneLine(fromEnv, /^worksched: WORKSCHED_URL "scheduler\.example:8080\/" is not an http:\/\/ or https:\/\/ URL; did you mean http:\/\/scheduler\.example:8080\/\?\n$/);
  expectOneLine(nonsense, /^worksched: --server "not a url" is not an http:\/\/ or https:\/\/ URL, e\.g\. http:\/\/127\.0\.0\.1:8080\n$/);
});

test('no token and no credentials file: says where it looked and what to do', async () => {
  const result = await runCli(['show'], { env: { WORKSCHED_DATA_DIR: path.join(dataDir, 'elsewhere') } });
  expectOneLine(result, /^worksched: no API token: pass --token or set WORKSCHED_TOKEN \(no local server's credentials at \S+elsewhere\/credentials\.json; run the CLI where `npm start` runs, or give --data-dir\)\n$/);
});

test('an unreachable server: exit 1, the URL, and what to do', async () => {
  const result = await runCli(['show'], { env: { WORKSCHED_DATA_DIR: dataDir } });
  expect(result.code).toBe(1);
  expect(result.stderr.startsWith(`worksched: cannot reach the worksched server at ${closedUrl}: ECONNREFUSED: `)).toBe(true);
  expect(result.stderr).toMatch(/: is the server running\? Start one with `npm start` \(or `worksched server`\), or point --server or WORKSCHED_URL at it\n$/);
});

test('usage mistakes are one line naming the command, exit 2', async () => {
  const [unknownOption, missingValue, unknownCommand] = await Promise.all([
    runCli(['submit', '--wiat', '--task-name', 'x', '--', '/bin/true'], { env: { WORKSCHED_DATA_DIR: dataDir } }),
    runCli(['show', '--limit'], { env: { WORKSCHED_DATA_DIR: dataDir } }),
    runCli(['shwo'], { env: { WORKSCHED_DATA_DIR: dataDir } }),
  ]);
  expectOneLine(unknownOption, /^worksched submit: unknown option '--wiat' \(Did you mean --wait\?\); see `worksched submit --help`\n$/);
  expectOneLine(missingValue, /^worksched show: option '--limit <n>' argument missing; see `worksched show --help`\n$/);
  expectOneLine(unknownCommand, /^worksched: unknown command 'shwo' \(Did you mean show\?\); see `worksched --help`\n$/);
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const [long, short] = await Promise.all([runCli(['--version']), runCli(['-V'])]);
  expect(long).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  expect(short).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
});
