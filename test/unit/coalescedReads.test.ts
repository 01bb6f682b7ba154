/** Concurrent identical statistics reads share one query started after they arrived (read-your-writes kept). */
import { CoalescedReads } from '../../server/statistics/coalescedReads';

test('callers arriving while a read runs share the next read, which starts after the running one ends', async () => {
  const reads = new CoalescedReads<number>();
  let started = 0;
  const releases: Array<() => void> = [];
  const read = () => {
    const index = ++started;
    return new Promise<number>((resolve) => releases.push(() => resolve(index)));
  };
  const first = reads.run('k', read);
  const second = reads.run('k', read);
  const third = reads.run('k', read);
  const other = reads.run('other', read);
  expect(started).toBe(2);
  releases[0]();
  expect(await first).toBe(1);
  await new Promise((resolve) => setImmediate(resolve));
  // Not the first read's answer: it may have been taken before the later callers' writes.
  expect(started).toBe(3);
  releases[2]();
  releases[1]();
  expect([await second, await third, await other]).toEqual([3, 3, 2]);
  const later = reads.run('k', read);
  expect(started).toBe(4);
  releases[3]();
  expect(await later).toBe(4);
});

test('a failed read fails its callers only; the next callers read again', async () => {
  const reads = new CoalescedReads<number>();
  await expect(reads.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(await reads.run('k', () => Promise.resolve(7))).toBe(7);
});
