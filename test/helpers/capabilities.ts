/**
 * What this host lets the tests exercise, decided once at collection time, so that a test which cannot run here
 * is left out with its reason printed, instead of passing without checking anything.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { bestMeasurementMethod, getCgroupSetup } from '../../worker/execution/cgroupDetect';

/** How the worker measures tasks here: a cgroup method where it may create memory and cpu cgroups, else 'proc'. */
export const measurementMethod = bestMeasurementMethod();
export const hasTaskCgroups = measurementMethod !== 'proc';
/** A cgroup2 hierarchy the worker may create children in, with or without its memory controller (the hybrid's). */
export const hasWritableCgroup2 = process.platform === 'linux' && getCgroupSetup('cgroup-v2', { requireMemory: false }) !== null;
export const isRoot = process.getuid?.() === 0;

type TestFunction = (name: string, fn: jest.ProvidesCallback, timeout?: number) => void;

/**
 * `test` where `available`; elsewhere the test is not registered and one line on stderr says which and why (the
 * one place a test is left out: by a capability detected at collection time, never by hand).
 */
export function testIf(available: boolean, missing: string): TestFunction {
  if (available) return test;
  return (name) => {
    process.stderr.write(`not run on this host: ${name} (${missing})\n`);
  };
}

/** For tests that need task cgroups (a memory limit, cgroup cpu and memory figures). */
export const testWithCgroups = testIf(hasTaskCgroups, 'the worker may not create memory and cpu cgroups on this host, it measures from /proc');

/**
 * Whether a user who is neither the owner nor in the group of any of them can read `path`: every directory above
 * it searchable by others and the file readable by others (false for a checkout under a mode-700 `mktemp -d`).
 */
export function readableByOthers(path: string): boolean {
  try {
    const file = resolve(path);
    if ((statSync(file).mode & 0o004) === 0) return false;
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dirname(dir) === dir) return true;
    }
  } catch {
    return false;
  }
}
