import { describeRetry } from '../../cli/watchWorkRequest';
import { wrapText } from '../../cli/format';
import { renderTable, terminalWidth, type Column } from '../../cli/table';
import type { WorkRequest } from '../../protocol/workRequest';

const COLUMNS: Column[] = [
  { head: 'id' },
  { head: 'task', shrinkTo: 8 },
  { head: 'status' },
  { head: 'result', shrinkTo: 10 },
  { head: 'worker', shrinkTo: 6, dropRank: 1 },
  { head: 'age', dropRank: 2 },
];
const ROWS = [
  [1, 'build the-package-with-a-long-name', 'completed/failure', 'exit_code: exited with code 3 after a long build', 'build-worker-01', '3m ago'],
  [22, 'test', 'running', '-', 'w2', '1s ago'],
];
const width = (text: string) => Math.max(...text.split('\n').map((line) => [...line].length));
const head = (text: string) => text.split('\n')[1];

describe('renderTable', () => {
  test('without a width every cell is whole', () => {
    const table = renderTable(COLUMNS, ROWS, { width: null, colour: false });
    expect(table).toContain('exit_code: exited with code 3 after a long build');
    expect(width(table)).toBe(3 * 6 + 1 + 2 + 34 + 17 + 48 + 15 + 6);
  });

  test('the widest free-text column is cut first, with an ellipsis', () => {
    const table = renderTable(COLUMNS, ROWS, { width: 130, colour: false });
    expect(width(table)).toBeLessThanOrEqual(130);
    expect(table).toContain('build the-package-with-a-long-name');
    expect(table).toMatch(/exit_code: exited with code 3 after… +│/);
  });

  test('text is cut down to its floor before any column is dropped', () => {
    const table = renderTable(COLUMNS, ROWS, { width: 80, colour: false });
    expect(width(table)).toBeLessThanOrEqual(80);
    expect(head(table)).toMatch(/│ id +│ task +│ status +│ result +│ worker +│ age +│/);
  });

  test('then low-value columns go, the highest rank first, and the text gets the room back', () => {
    const at60 = renderTable(COLUMNS, ROWS, { width: 60, colour: false });
    expect(width(at60)).toBeLessThanOrEqual(60);
    expect(head(at60)).not.toContain('age');
    expect(head(at60)).toContain('worker');
    const at50 = renderTable(COLUMNS, ROWS, { width: 50, colour: false });
    expect(width(at50)).toBeLessThanOrEqual(50);
    expect(head(at50)).not.toContain('worker');
    expect(at50).toContain('completed/failure');
  });

  test('narrower than every floor: text is cut down to its heading, fixed columns stay whole', () => {
    const table = renderTable(COLUMNS, ROWS, { width: 40, colour: false });
    expect(table).toContain('completed/failure');
    expect(width(table)).toBeLessThanOrEqual(3 * 4 + 1 + 2 + 4 + 17 + 6);
  });
});

describe('terminalWidth', () => {
  const tty = (columns?: number) => ({ isTTY: true, columns }) as unknown as NodeJS.WriteStream;
  test('COLUMNS overrides the terminal size; no terminal means no limit', () => {
    expect(terminalWidth(tty(132), {})).toBe(132);
    expect(terminalWidth(tty(132), { COLUMNS: '80' })).toBe(80);
    expect(terminalWidth(tty(undefined), { COLUMNS: 'wide' })).toBe(80);
    expect(terminalWidth({ isTTY: false } as unknown as NodeJS.WriteStream, { COLUMNS: '80' })).toBeNull();
  });
});

describe('wrapText', () => {
  test('wraps at spaces with a hanging indent; fits → unchanged; no width → one line', () => {
    expect(wrapText('reason: ', 'one two three four five', 20)).toEqual(['reason: one two', '        three four', '        five']);
    expect(wrapText('a: ', 'short', 20)).toEqual(['a: short']);
    expect(wrapText('a: ', 'x '.repeat(50), null)).toHaveLength(1);
    expect(wrapText('  ', 'abcdefghijklmnopqrstuvwxyz', 10, 4).every((line) => line.length <= 10)).toBe(true);
  });
});

describe('describeRetry', () => {
  const request = (overrides: Partial<WorkRequest>): WorkRequest =>
    ({ id: 24, status: 'completed', result: 'failure', attempt: 1, time_limit_s: null, learned_requirements: [], not_before: null, output_data: null, ...overrides }) as WorkRequest;
  const now = Date.parse('2026-01-01T00:00:00Z');

  test('the exit code, the new id and the back-off', () => {
    const failed = request({ output_data: { errors: [{ code: 'exit_code', message: 'exited with code 3', exit_code: 3 }] } });
    const next = request({ id: 25, status: 'pending', result: null, attempt: 2, not_before: '2026-01-01T00:00:05.200Z' });
    expect(describeRetry(failed, next, now)).toBe('attempt 1 failed (exit 3); retrying as #25 in 5 s');
  });

  test('a time-limit kill retried with a doubled limit says so', () => {
    const failed = request({ time_limit_s: 2, output_data: { errors: [{ code: 'time_limit_exceeded', message: 'time limit of 2 s exceeded' }] } });
    const next = request({ id: 25, status: 'pending', result: null, attempt: 2, time_limit_s: 4, not_before: '2026-01-01T00:00:00.400Z' });
    expect(describeRetry(failed, next, now)).toBe('attempt 1 failed (time limit exceeded); retrying as #25 in 0.4 s with a time limit of 4.0s');
  });
});
