/**
 * Pure helpers of history-driven scheduling: the retry back-off (exponential, ±25 % jitter, never above the
 * configured maximum) and the history key fallback chain with the labels reasons quote.
 */
import { retryDelayS } from '../../server/history/decideAfterFailure';
import { describeKey, historyKeyOf, historyLevels } from '../../server/history/historyKey';

const SAMPLES = 2000;

function sampleDelays(attempt: number, policy: { baseDelayS: number; maxDelayS: number }): number[] {
  return Array.from({ length: SAMPLES }, () => retryDelayS(attempt, policy));
}

describe('retryDelayS', () => {
  test.each([
    // attempt, base, max, un-jittered delay = min(max, base × 2^(attempt-1))
    [1, 5, 600, 5],
    [2, 5, 600, 10],
    [3, 5, 600, 20],
    [4, 10, 600, 80],
  ])('attempt %p, base %p s: within ±25 %% of %p s, spread over that range', (attempt, base, max, expected) => {
    const delays = sampleDelays(attempt, { baseDelayS: base, maxDelayS: max });
    // Rounded to 0.1 s, so allow half a step beyond ±25 %.
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(expected * 0.75 - 0.05);
      expect(delay).toBeLessThanOrEqual(expected * 1.25 + 0.05);
    }
    // Jitter is real: with 2000 samples both outer tenths of the range are reached.
    expect(Math.min(...delays)).toBeLessThan(expected * 0.8);
    expect(Math.max(...delays)).toBeGreaterThan(expected * 1.2);
  });

  test('rounded to a tenth of a second', () => {
    for (const delay of sampleDelays(2, { baseDelayS: 1.7, maxDelayS: 600 })) {
      expect(Math.abs(delay * 10 - Math.round(delay * 10))).toBeLessThan(1e-9);
    }
  });

  test('capped: never more than maxDelayS, however many attempts (config: "at most max")', () => {
    for (const attempt of [8, 10, 30, 100]) {
      const delays = sampleDelays(attempt, { baseDelayS: 5, maxDelayS: 600 });
      for (const delay of delays) {
        expect(delay).toBeLessThanOrEqual(600);
        expect(delay).toBeGreaterThanOrEqual(600 * 0.75 - 0.05);
      }
    }
  });

  test('the cap holds for the short delays tests configure too (base 0.2 s, max 1 s)', () => {
    for (const attempt of [1, 2, 3, 4, 5]) {
      for (const delay of sampleDelays(attempt, { baseDelayS: 0.2, maxDelayS: 1 })) expect(delay).toBeLessThanOrEqual(1);
    }
  });

  test('a zero base delay means retry at once', () => {
    expect(new Set(sampleDelays(3, { baseDelayS: 0, maxDelayS: 600 }))).toEqual(new Set([0]));
  });

  test('attempt 0 or below is treated like attempt 1 (no shorter-than-base delay)', () => {
    for (const delay of sampleDelays(0, { baseDelayS: 8, maxDelayS: 600 })) {
      expect(delay).toBeGreaterThanOrEqual(6 - 0.05);
      expect(delay).toBeLessThanOrEqual(10 + 0.05);
    }
  });
});

describe('history keys', () => {
  test('historyKeyOf: missing subject and context become ""', () => {
    expect(historyKeyOf({ taskName: 'build', subject: null, context: undefined })).toEqual({ taskName: 'build', subject: '', context: '' });
    expect(historyKeyOf({ taskName: 'build', subject: 'foo', context: 'amd64' })).toEqual({ taskName: 'build', subject: 'foo', context: 'amd64' });
  });

  test('describeKey: the parts that are set, joined with "/"', () => {
    expect(describeKey({ taskName: 'build', subject: 'foo', context: 'amd64' })).toBe('build/foo/amd64');
    expect(describeKey({ taskName: 'build', subject: 'foo', context: '' })).toBe('build/foo');
    expect(describeKey({ taskName: 'build', subject: '', context: '' })).toBe('build');
  });

  test('historyLevels: (task, subject, context) → (task, subject) → task, most specific first', () => {
    const levels = historyLevels({ taskName: 'build', subject: 'foo', context: 'amd64' });
    expect(levels.map((level) => level.label)).toEqual(['build/foo/amd64', 'build/foo (any context)', 'build (any subject)']);
    expect(levels.map((level) => level.params)).toEqual([['build', 'foo', 'amd64'], ['build', 'foo'], ['build']]);
    expect(levels.map((level) => level.where)).toEqual([
      'task_name = ? and subject = ? and context = ?',
      'task_name = ? and subject = ?',
      'task_name = ?',
    ]);
    // Every level's placeholders match its parameters.
    for (const level of levels) expect(level.where.split('?').length - 1).toBe(level.params.length);
  });

  test('historyLevels without a context: the second level is not called "any context"', () => {
    const levels = historyLevels({ taskName: 'build', subject: 'foo', context: '' });
    expect(levels.map((level) => level.label)).toEqual(['build/foo', 'build/foo', 'build (any subject)']);
  });

  test('historyLevels of a bare task name', () => {
    const levels = historyLevels(historyKeyOf({ taskName: 'lint' }));
    expect(levels[0]).toEqual({ label: 'lint', where: 'task_name = ? and subject = ? and context = ?', params: ['lint', '', ''] });
    expect(levels[2]).toEqual({ label: 'lint (any subject)', where: 'task_name = ?', params: ['lint'] });
  });
});
