import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { sleep } from '../../common/sleep';
import { ensureBases, releaseBases, type CgroupSetup } from './cgroupDetect';

export interface CgroupStats {
  cpuMs?: number;
  memoryPeak?: number;
  /** Processes of this cgroup killed by the OOM killer (v2 memory.events, v1 memory.oom_control). */
  oomKills?: number;
  /** v1 memory.failcnt: how often the memory limit was hit (for kernels without the oom_kill counter). */
  failcnt?: number;
}

/** Task cgroups of this process alive per setup: the bases are released when it drops to zero. */
const active = new Map<CgroupSetup, number>();

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file)?.trim();
  if (text === undefined || text === '' || text === 'max') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** "key value" lines (cpu.stat, memory.events, memory.oom_control). */
function readKeyed(file: string, key: string): number | undefined {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(readText(file) ?? '');
  return match ? Number(match[1]) : undefined;
}

/** One task's cgroup: one directory per hierarchy the task joins (v2: one; v1: memory and cpuacct). */
export class TaskCgroup {
  /** Highest memory.current seen, for v2 kernels older than memory.peak (5.19). */
  private sampledPeak = 0;
  private removed = false;

  private constructor(
    readonly setup: CgroupSetup,
    readonly dirs: string[],
  ) {}

  static create(setup: CgroupSetup, name: string, memoryLimitBytes?: number): TaskCgroup {
    const dirs: string[] = [];
    try {
      // Another worker process may release a shared base between ensureBases and mkdir: retry.
      for (let attempt = 1; ; attempt += 1) {
        ensureBases(setup);
        try {
          for (const base of setup.bases) {
            const dir = join(base, name);
            if (!existsSync(dir)) mkdirSync(dir);
            if (!dirs.includes(dir)) dirs.push(dir);
          }
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error;
        }
      }
      if (memoryLimitBytes !== undefined && setup.hasMemory) {
        const file = setup.method === 'cgroup-v2' ? 'memory.max' : 'memory.limit_in_bytes';
        writeFileSync(join(dirs[0], file), String(memoryLimitBytes));
      }
    } catch (error) {
      for (const dir of dirs) rmdirSafe(dir);
      if (!active.get(setup)) releaseBases(setup);
      throw error;
    }
    active.set(setup, (active.get(setup) ?? 0) + 1);
    return new TaskCgroup(setup, dirs);
  }

  get method(): 'cgroup-v2' | 'cgroup-v1' {
    return this.setup.method;
  }

  get hasMemory(): boolean {
    return this.setup.hasMemory;
  }

  /** Files the wrapper shell writes its pid into before exec. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Live members (every hierarchy holds the same processes; union them anyway). */
  pids(): number[] {
    const pids = new Set<number>();
    for (const dir of this.dirs) {
      for (const word of (readText(join(dir, 'cgroup.procs')) ?? '').split('\n')) if (word) pids.add(Number(word));
    }
    return [...pids];
  }

  signal(signal: NodeJS.Signals): void {
    // v2's cgroup.kill (5.14+) kills every member atomically, even ones forking right now.
    if (signal === 'SIGKILL' && this.method === 'cgroup-v2' && existsSync(join(this.dirs[0], 'cgroup.kill'))) {
      try {
        writeFileSync(join(this.dirs[0], 'cgroup.kill'), '1');
      } catch {
        // Fall through to signalling pids one by one.
      }
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGKILL members until none is left (fork loops need several rounds). Returns true when empty. */
  async killAll(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.pids().length === 0) return true;
      if (Date.now() > deadline) return false;
      this.signal('SIGKILL');
      await sleep(20);
    }
  }

  /** v2 before memory.peak (5.19): the caller polls sampleMemory() instead. */
  get needsMemorySampling(): boolean {
    return this.method === 'cgroup-v2' && this.hasMemory && !existsSync(join(this.dirs[0], 'memory.peak'));
  }

  sampleMemory(): void {
    if (this.method !== 'cgroup-v2' || !this.hasMemory) return;
    const current = readNumber(join(this.dirs[0], 'memory.current'));
    if (current !== undefined && current > this.sampledPeak) this.sampledPeak = current;
  }

  stats(): CgroupStats {
    if (this.method === 'cgroup-v2') {
      const dir = this.dirs[0];
      const usage = readKeyed(join(dir, 'cpu.stat'), 'usage_usec');
      if (!this.hasMemory) return { cpuMs: usage === undefined ? undefined : usage / 1000 };
      this.sampleMemory();
      const peak = readNumber(join(dir, 'memory.peak'));
      return {
        cpuMs: usage === undefined ? undefined : usage / 1000,
        memoryPeak: peak ?? this.sampledPeak,
        oomKills: readKeyed(join(dir, 'memory.events'), 'oom_kill'),
      };
    }
    const memoryDir = this.dirs[0];
    const cpuDir = this.dirs[1] ?? this.dirs[0];
    const usageNs = readNumber(join(cpuDir, 'cpuacct.usage'));
    return {
      cpuMs: usageNs === undefined ? undefined : usageNs / 1e6,
      memoryPeak: readNumber(join(memoryDir, 'memory.max_usage_in_bytes')),
      oomKills: readKeyed(join(memoryDir, 'memory.oom_control'), 'oom_kill'),
      failcnt: readNumber(join(memoryDir, 'memory.failcnt')),
    };
  }

  /** rmdir every hierarchy's directory; exiting members may keep it busy for a moment. */
  async remove(timeoutMs = 3000): Promise<string[]> {
    if (this.removed) return [];
    this.removed = true;
    const deadline = Date.now() + timeoutMs;
    let left = [...this.dirs];
    while (left.length > 0 && Date.now() <= deadline) {
      left = left.filter((dir) => !rmdirSafe(dir));
      if (left.length > 0) await sleep(50);
    }
    const count = (active.get(this.setup) ?? 1) - 1;
    active.set(this.setup, count);
    if (count === 0) releaseBases(this.setup);
    return left;
  }
}

/** True when the directory is gone. */
function rmdirSafe(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
