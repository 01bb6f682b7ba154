import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'fs';
import { dirname, join, relative, resolve, sep } from 'path';
import { randomBytes } from 'crypto';
import type { MeasurementMethod } from './types';

/** Where task cgroups are created: one base directory per hierarchy the task joins. */
export interface CgroupSetup {
  method: 'cgroup-v2' | 'cgroup-v1';
  /** v2: the one base dir; v1: memory first, then cpuacct (the same dir when co-mounted). */
  bases: string[];
  /** False only when 'cgroup-v2' was forced on a host whose cgroup2 has no memory controller. */
  hasMemory: boolean;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

const BASE_NAME = 'worksched';

function readMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    const unescape = (text: string) => text.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    mounts.push({ root: unescape(left[3]), mountPoint: unescape(left[4]), fsType: right[0], superOptions: (right[2] ?? '').split(',') });
  }
  return mounts;
}

/** /proc/self/cgroup: "4:memory:/a/b" → memory → /a/b; "0::/x" → '' → /x. */
function readOwnCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1].split(',')) own.set(controller, match[2]);
  }
  return own;
}

/** This process's directory in a hierarchy (the mount may expose a sub-tree, e.g. in containers). */
function ownDir(mount: Mount, ownPath: string | undefined): string {
  if (ownPath === undefined) return mount.mountPoint;
  const rel = mount.root !== '/' && (ownPath === mount.root || ownPath.startsWith(mount.root + '/'))
    ? ownPath.slice(mount.root.length)
    : ownPath;
  const dir = join(mount.mountPoint, rel);
  return existsSync(dir) ? dir : mount.mountPoint;
}

/** ownDir, then each ancestor up to the mount point: the nearest place we may create cgroups wins. */
function candidates(mount: Mount, ownPath: string | undefined): string[] {
  const list: string[] = [];
  let dir = resolve(ownDir(mount, ownPath));
  const top = resolve(mount.mountPoint);
  for (;;) {
    list.push(dir);
    if (dir === top || !dir.startsWith(top + sep)) break;
    dir = dirname(dir);
  }
  return list;
}

function readWords(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Make `controller` available to the children of `dir` (fails with EBUSY if dir holds processes). */
function enableController(dir: string, controller: string): void {
  if (readWords(join(dir, 'cgroup.subtree_control')).includes(controller)) return;
  writeFileSync(join(dir, 'cgroup.subtree_control'), `+${controller}`);
}

/** Create base/<probe>, check the files we will read exist and cgroup.procs is writable, remove it. */
function probe(base: string, files: string[]): void {
  const dir = join(base, `probe-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  try {
    for (const file of files) if (!existsSync(join(dir, file))) throw new Error(`${join(dir, file)} missing`);
    accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
  } finally {
    rmdirSync(dir);
  }
}

/** Empty task cgroups left by a worker that died: remove those older than ten minutes. */
function removeStale(base: string): void {
  try {
    for (const name of readdirSync(base)) {
      if (!/^(wr-|probe-)/.test(name)) continue;
      const dir = join(base, name);
      try {
        if (Date.now() - statSync(dir).mtimeMs < 600_000) continue;
        if (readWords(join(dir, 'cgroup.procs')).length === 0) rmdirSync(dir);
      } catch {
        // Busy or already gone: leave it.
      }
    }
  } catch {
    // Unreadable base: nothing to tidy.
  }
}

function prepareV2(requireMemory: boolean): CgroupSetup | null {
  const mount = readMounts().find((m) => m.fsType === 'cgroup2');
  if (!mount) return null;
  const hasMemory = readWords(join(mount.mountPoint, 'cgroup.controllers')).includes('memory');
  if (requireMemory && !hasMemory) return null;
  for (const parent of candidates(mount, readOwnCgroups().get(''))) {
    try {
      // v2 forbids controllers below a cgroup that holds processes, so try our own cgroup, then ancestors.
      if (hasMemory) enableController(parent, 'memory');
      const setup: CgroupSetup = { method: 'cgroup-v2', bases: [join(parent, BASE_NAME)], hasMemory };
      ensureBases(setup);
      removeStale(setup.bases[0]);
      probe(setup.bases[0], hasMemory ? ['cpu.stat', 'memory.current'] : ['cpu.stat']);
      releaseBases(setup);
      return setup;
    } catch {
      // Not permitted here: try the next ancestor.
    }
  }
  return null;
}

function prepareV1Hierarchy(controller: string, file: string): string | null {
  const mount = readMounts().find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
  if (!mount) return null;
  // v1 has no "no internal processes" rule: our own cgroup keeps the worker's limits over its tasks.
  for (const parent of candidates(mount, readOwnCgroups().get(controller))) {
    try {
      const base = join(parent, BASE_NAME);
      mkdirSync(base, { recursive: true });
      removeStale(base);
      probe(base, [file]);
      rmdirQuiet(base);
      return base;
    } catch {
      // Not permitted here: try the next ancestor.
    }
  }
  return null;
}

function prepareV1(): CgroupSetup | null {
  const memory = prepareV1Hierarchy('memory', 'memory.max_usage_in_bytes');
  const cpuacct = memory && prepareV1Hierarchy('cpuacct', 'cpuacct.usage');
  if (!memory || !cpuacct) return null;
  return { method: 'cgroup-v1', bases: memory === cpuacct ? [memory] : [memory, cpuacct], hasMemory: true };
}

/** (Re)create the base dirs before a task: they are removed whenever no task of ours runs. */
export function ensureBases(setup: CgroupSetup): void {
  for (const base of setup.bases) mkdirSync(base, { recursive: true });
  if (setup.method === 'cgroup-v2' && setup.hasMemory) enableController(setup.bases[0], 'memory');
}

/**
 * Remove the base dirs when idle (fails harmlessly while another task, or worker, uses them): an empty
 * leftover child would keep whoever manages our own cgroup from removing it.
 */
export function releaseBases(setup: CgroupSetup): void {
  for (const base of setup.bases) rmdirQuiet(base);
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // In use (or gone).
  }
}

const setups = new Map<string, CgroupSetup | null>();

/** The cgroup layout for a method, or null where the worker may not create such cgroups. Cached. */
export function getCgroupSetup(method: 'cgroup-v2' | 'cgroup-v1', options: { requireMemory?: boolean } = {}): CgroupSetup | null {
  const requireMemory = options.requireMemory ?? true;
  const key = `${method}${requireMemory ? '' : '-any'}`;
  if (!setups.has(key)) {
    let setup: CgroupSetup | null;
    try {
      setup = method === 'cgroup-v2' ? prepareV2(requireMemory) : prepareV1();
    } catch {
      setup = null;
    }
    setups.set(key, setup);
  }
  return setups.get(key) ?? null;
}

let detected: Promise<MeasurementMethod> | undefined;

/**
 * The best method here: cgroup v2 with a memory controller (pure v2), else v1 memory + cpuacct (v1 or the
 * hybrid whose cgroup2 lacks memory), else /proc sampling. Synchronous, for tests deciding what they can run.
 */
export function bestMeasurementMethod(): MeasurementMethod {
  if (process.platform !== 'linux') return 'proc';
  if (getCgroupSetup('cgroup-v2')) return 'cgroup-v2';
  if (getCgroupSetup('cgroup-v1')) return 'cgroup-v1';
  return 'proc';
}

/** bestMeasurementMethod, once (cached). */
export function detectMeasurementMethod(): Promise<MeasurementMethod> {
  detected ??= Promise.resolve().then(bestMeasurementMethod);
  return detected;
}

/** For messages: where the task cgroups live, relative to /sys/fs/cgroup when possible. */
export function describeSetup(setup: CgroupSetup): string {
  return setup.bases.map((base) => (base.startsWith('/sys/fs/cgroup/') ? relative('/sys/fs/cgroup', base) : base)).join(', ');
}
