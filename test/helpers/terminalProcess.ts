/**
 * A command run on a pseudo-terminal, as a user runs it: util-linux `script` gives it a pty as its controlling
 * terminal, and a Ctrl-C byte written to script's input makes the terminal send SIGINT to the whole foreground
 * process group, exactly as a key press does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { stripAnsi } from './ansi';
import type { ExitInfo } from './workerProcess';

/** Whether `script` (util-linux) can run a command on a pty here; the reason when it cannot. */
export function terminalUnavailableReason(): string | null {
  const probe = spawnSync('script', ['-qfec', 'tty', '/dev/null'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) return `util-linux script is not available: ${probe.error.message}`;
  if (probe.status !== 0 || !/\/dev\/pts\//.test(probe.stdout)) return `script gives no pseudo-terminal here: ${probe.stdout}${probe.stderr}`;
  return null;
}

function shellQuote(words: string[]): string {
  return words.map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
}

export class TerminalProcess {
  private readonly child: ChildProcess;
  private raw = '';
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;

  /** `command` is exec'd by the shell script starts, so it is the session's foreground process group leader. */
  constructor(
    readonly label: string,
    command: string[],
    options: { cwd: string; env: NodeJS.ProcessEnv },
  ) {
    this.child = spawn('script', ['-qfec', `exec ${shellQuote(command)}`, '/dev/null'], { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.raw += text));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.raw += text));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  /** Everything written to the terminal as it was, control sequences included. */
  rawOutput(): string {
    return this.raw;
  }

  /** What the terminal showed, without colours and carriage returns. */
  output(): string {
    return stripAnsi(this.raw).replace(/\r/g, '');
  }

  /** Lines of output, blank ones left out. */
  lines(): string[] {
    return this.output().split('\n').filter((line) => line.trim() !== '');
  }

  /** Resolves with the first match of `pattern` in the output; rejects on exit or after `timeoutMs`. */
  async waitForText(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output());
      if (match) return match;
      if (this.exitInfo) throw new Error(`${this.label} exited (${JSON.stringify(this.exitInfo)}) before printing ${pattern}:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`${this.label} did not print ${pattern} within ${timeoutMs} ms:\n${this.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Ctrl-C on the terminal: the line discipline sends SIGINT to the foreground process group. */
  pressCtrlC(): void {
    this.child.stdin!.write('\x03');
  }

  async waitForExit(timeoutMs: number): Promise<ExitInfo | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cleanup: SIGKILL to script closes the terminal, which hangs up the command. */
  kill(): void {
    if (!this.exitInfo) this.child.kill('SIGKILL');
  }
}
