import { WorkschedApiError } from '../client/http';
import { formatBytes, formatDuration } from '../protocol/units';
import type { WorkRequest } from '../protocol/workRequest';
import { CliUsageError } from './errors';

/** Colour only for a person at a terminal: never in pipes, files or when NO_COLOR is set. */
export function useColour(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}

export { formatDuration };

/** Seconds between two ISO times (`to` defaults to now); null when `from` is missing. */
export function secondsBetween(from: string | null | undefined, to?: string | null, now: Date = new Date()): number | null {
  if (!from) return null;
  const end = to ? Date.parse(to) : now.getTime();
  return Math.max(0, (end - Date.parse(from)) / 1000);
}

/** "5s ago", "3m ago", "2h ago", "4d ago"; "-" when there is no time. Clock skew never gives a negative age. */
export function formatAge(iso: string | null | undefined, now: Date = new Date()): string {
  const seconds = secondsBetween(iso, null, now);
  if (seconds === null) return '-';
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole}s ago`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ago`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h ago`;
  return `${Math.floor(whole / 86_400)}d ago`;
}

/** "in 3m05s", or "now" once the time has come. */
export function formatUntil(iso: string, now: Date = new Date()): string {
  const seconds = (Date.parse(iso) - now.getTime()) / 1000;
  return seconds <= 0 ? 'now' : `in ${formatDuration(seconds)}`;
}

/** Bytes for humans ("2.0 GiB"); "-" when unknown. */
export function formatSize(bytes: number | null | undefined): string {
  return formatBytes(bytes);
}

/** "completed/success", "running", "aborted". */
export function formatStatus(request: Pick<WorkRequest, 'status' | 'result'>): string {
  return request.result ? `${request.status}/${request.result}` : request.status;
}

/** How long the request ran (started → completed), or has been running so far; "-" if it never started. */
export function formatRunTime(request: Pick<WorkRequest, 'started_at' | 'completed_at'>, now: Date = new Date()): string {
  return formatDuration(secondsBetween(request.started_at, request.completed_at, now));
}

/** One line of at most `max` characters: whitespace runs (newlines too) collapse, an ellipsis marks the cut. */
export function truncate(text: string | null | undefined, max = 60): string {
  if (text === null || text === undefined || text === '') return '-';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

/**
 * A work-request (or other) id given on the command line: a positive integer, else a usage error (exit 2)
 * that says what was expected.
 */
export function parseIdArgument(value: string, what = 'work request id'): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value.trim())) {
    throw new CliUsageError(`${what} must be a positive integer, got ${JSON.stringify(value)} (see \`worksched show\` for ids)`);
  }
  return Number(value.trim());
}

/** An integer option such as `--limit 20`; a usage error naming the option otherwise. */
export function parseIntegerOption(value: string, option: string, range: { min?: number; max?: number } = {}): number {
  const trimmed = value.trim();
  const number = /^-?[0-9]+$/.test(trimmed) ? Number(trimmed) : NaN;
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    const bounds = range.min !== undefined && range.max !== undefined ? ` between ${min} and ${max}` : range.min !== undefined ? ` ≥ ${min}` : '';
    throw new CliUsageError(`${option} must be an integer${bounds}, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** Adds what to do next to a "work request N does not exist" answer; other errors pass through unchanged. */
export function withNotFoundHint(error: unknown): unknown {
  if (error instanceof WorkschedApiError && error.status === 404) {
    return new WorkschedApiError(error.status, error.code, `${error.message} (list work requests with \`worksched show\`)`, error.issues);
  }
  return error;
}

/** Pretty JSON with a trailing newline, for `--json`. */
export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * `prefix` + `text` as lines of at most `width` characters (one line when width is null), later lines indented
 * by `hang` spaces; breaks at spaces, inside a word only when the word alone is too long.
 */
export function wrapText(prefix: string, text: string, width: number | null, hang = prefix.length): string[] {
  const single = `${prefix}${text}`;
  if (width === null || [...single].length <= width) return [single];
  const lines: string[] = [];
  let line = prefix;
  let lineHasWord = false;
  const room = () => width - [...line].length;
  for (const word of text.split(/ +/).filter(Boolean)) {
    let rest = word;
    if (lineHasWord && [...rest].length + 1 > room()) {
      lines.push(line);
      line = ' '.repeat(hang);
      lineHasWord = false;
    }
    if (lineHasWord) line += ' ';
    while ([...rest].length > room() && room() > 0) {
      const chars = [...rest];
      lines.push(line + chars.slice(0, room()).join(''));
      rest = chars.slice(room()).join('');
      line = ' '.repeat(hang);
    }
    line += rest;
    lineHasWord = true;
  }
  lines.push(line);
  return lines;
}
