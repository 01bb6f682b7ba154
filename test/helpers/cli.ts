/**
 * The real `node bin/worksched.js` as a child process, asynchronously (a server in the test's own process must
 * keep answering): with pipes, or on a pseudo-terminal through util-linux `script`, for what only a terminal
 * gets (status lines, tables fitted to COLUMNS).
 */
import { spawn } from 'node:child_process';
import { stripAnsi } from './ansi';
import { CLI, REPO_ROOT } from './workerProcess';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from start to exit. */
  elapsedMs: number;
}

export interface CliOptions {
  /** The whole environment besides PATH and HOME (nothing else of the test run leaks in). */
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
}

export interface RunningCli {
  done: Promise<CliResult>;
  stdoutSoFar(): string;
  stderrSoFar(): string;
  /** When each stdout chunk arrived (ms epoch) and its text. */
  stdoutChunks: Array<{ at: number; text: string }>;
}

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, env: baseEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const stdoutChunks: Array<{ at: number; text: string }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    stdoutChunks.push({ at: Date.now(), text: chunk });
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, elapsedMs: Date.now() - started }));
  });
  return { done, stdoutSoFar: () => stdout, stderrSoFar: () => stderr, stdoutChunks };
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/**
 * Runs the CLI on a pseudo-terminal (`script -qefc`): stdout and stderr are both the terminal, so `output`
 * holds both, with the terminal's \r\n line ends. `script` returns the command's exit code (-e).
 */
export function runCliInTerminal(args: string[], options: CliOptions = {}): Promise<{ code: number | null; output: string; elapsedMs: number }> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  const started = Date.now();
  const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: options.cwd ?? REPO_ROOT, env: baseEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stdin.end();
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, elapsedMs: Date.now() - started }));
  });
}

/** Terminal output as the lines a person sees: colour codes removed, split at \r\n or \n. */
export function visibleLines(output: string): string[] {
  return stripAnsi(output).split(/\r?\n/);
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
