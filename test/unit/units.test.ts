/** protocol/units.ts: how the sizes and durations of a task spec are read, and how sizes are shown to people. */
import { formatBytes, formatDuration, parseDurationSeconds, parseSize } from '../../protocol/units';

describe('parseSize', () => {
  test.each([
    [1024, 1024],
    [0, 0],
    ['1024', 1024],
    ['2GiB', 2 * 1024 ** 3],
    ['2 GiB', 2 * 1024 ** 3],
    ['512MB', 512_000_000],
    ['512 mb', 512_000_000],
    ['1.5KiB', 1536],
    ['10KB', 10_000],
    ['3G', 3 * 1024 ** 3], // single letters are binary
    ['100b', 100],
    ['  7MiB  ', 7 * 1024 ** 2],
    ['1TiB', 1024 ** 4],
  ])('%p → %p bytes', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  test.each([['abc'], ['-1'], ['2 XB'], [''], ['1,5GiB'], ['GiB'], [-1], [1.5], [Number.NaN], ['99999999999TiB']])('%p is not a size', (input) => {
    expect(parseSize(input)).toBeNull();
  });
});

describe('parseDurationSeconds', () => {
  test.each([
    [3600, 3600],
    [1.2, 2], // rounded up: a limit is never shortened
    ['3600', 3600],
    ['90s', 90],
    ['15m', 900],
    ['2h', 7200],
    ['1d', 86_400],
    ['1.5s', 2],
    ['0.5m', 30],
    [' 2 H ', 7200],
  ])('%p → %p s', (input, expected) => {
    expect(parseDurationSeconds(input)).toBe(expected);
  });

  test.each([['soon'], ['-5'], [-5], ['5 min'], ['5ms'], [''], [Number.POSITIVE_INFINITY]])('%p is not a duration', (input) => {
    expect(parseDurationSeconds(input)).toBeNull();
  });
});

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [300 * 1024 ** 2, '300.0 MiB'],
    [64 * 1024 ** 3, '64.0 GiB'],
    [2 * 1024 ** 4, '2.0 TiB'],
    [1024 ** 5, '1024.0 TiB'], // TiB is the largest unit
  ])('%p → %p', (input, expected) => {
    expect(formatBytes(input)).toBe(expected);
  });

  test('null and undefined read as "-"', () => {
    expect(formatBytes(null)).toBe('-');
    expect(formatBytes(undefined)).toBe('-');
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0ms'],
    [0.0004, '0ms'],
    [0.012, '12ms'],
    [0.049, '49ms'],
    [0.099, '99ms'],
    [0.1, '0.1s'],
    [0.4, '0.4s'],
    [1.23, '1.2s'],
    [42, '42s'],
    [184, '3m04s'],
    [7500, '2h05m'],
    [273600, '3d04h'],
  ])('%p s → %p (no "0.0s" for short runs)', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });

  test('unknown or negative → "-"', () => {
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(-1)).toBe('-');
  });
});
