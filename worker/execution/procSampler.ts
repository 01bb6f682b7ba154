import { readdirSync, readFileSync } from 'fs';

/** Linux reports /proc times in USER_HZ, which is 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;
const FULL_SCAN_EVERY = 5;

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  starttime: number;
  /** utime + stime + cutime + cstime: the process and its reaped children. */
  ticks: number;
}

interface Tracked {
  starttime: number;
  ticks: number;
  ppid: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(fields[n - 3]);
  return {
    pid,
    state: fields[0],
    ppid: field(4),
    pgrp: field(5),
    ticks: field(14) + field(15) + field(16) + field(17),
    starttime: field(22),
  };
}

function readAll(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return all;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.set(stat.pid, stat);
  }
  return all;
}

/** Children of every thread of pid (needs CONFIG_PROC_CHILDREN); undefined when the kernel lacks it. */
function readChildren(pid: number): number[] | undefined {
  const children: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children; // exited
  }
  for (const tid of tids) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').split(' ')) if (word) children.push(Number(word));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && tid === String(pid)) return undefined;
    }
  }
  return children;
}

/** VmRSS and VmHWM (the process's own peak) in bytes. */
function readMemory(pid: number): { rss: number; hwm: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * The fallback where no cgroup can be created: samples the task's process tree (descendants by parent link
 * and members of its process group, remembered by pid + start time so setsid-detached orphans stay known).
 * cpu = live processes' utime+stime+cutime+cstime + the last figures of dead ones no tracked parent reaped;
 * memory = max(peak of the tree's RSS sum, any single process's VmHWM). Short-lived work between samples is
 * missed, which is why cgroups come first.
 */
export class ProcSampler {
  private readonly tracked = new Map<number, Tracked>();
  private deadTicks = 0;
  private cpuTicksPeak = 0;
  private rssPeak = 0;
  private timer: NodeJS.Timeout | undefined;
  private rootSeen = false;
  private samples = 0;
  private readonly startedAt = Date.now();

  constructor(private readonly rootPid: number) {}

  /** Every 50 ms for the first 2 s (short tasks), then every 100 ms. */
  start(): void {
    const tick = () => {
      this.sample();
      this.timer = setTimeout(tick, Date.now() - this.startedAt < 2000 ? 50 : 100);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get cpuMs(): number {
    return (this.cpuTicksPeak * 1000) / TICKS_PER_SECOND;
  }

  get memoryPeak(): number {
    return this.rssPeak;
  }

  /** Full /proc scans are costly (~40 µs per process): do one every FULL_SCAN_EVERY samples, else walk the tree. */
  private readTree(): Map<number, ProcStat> | undefined {
    const found = new Map<number, ProcStat>();
    const queue = [this.rootPid, ...this.tracked.keys()];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      if (found.has(pid)) continue;
      const stat = readStat(pid);
      if (!stat) continue;
      found.set(pid, stat);
      const children = readChildren(pid);
      if (children === undefined) return undefined;
      queue.push(...children);
    }
    return found;
  }

  sample(): void {
    this.samples += 1;
    const all = (this.samples % FULL_SCAN_EVERY !== 1 && this.readTree()) || readAll();
    const live = new Map<number, ProcStat>();
    for (const [pid, known] of this.tracked) {
      const stat = all.get(pid);
      if (stat && stat.starttime === known.starttime) live.set(pid, stat);
    }
    const root = all.get(this.rootPid);
    if (root && !this.rootSeen) {
      this.rootSeen = true;
      live.set(this.rootPid, root);
    }
    // Grow to a fixpoint: children of tracked processes and anything in the task's process group.
    for (let grown = true; grown; ) {
      grown = false;
      for (const stat of all.values()) {
        if (live.has(stat.pid) || stat.pid === process.pid) continue;
        if (live.has(stat.ppid) || stat.pgrp === this.rootPid) {
          live.set(stat.pid, stat);
          grown = true;
        }
      }
    }
    const trackedBefore = new Set(this.tracked.keys());
    for (const [pid, known] of this.tracked) {
      if (live.has(pid)) continue;
      // Reaped. A tracked parent's cutime now holds its time; otherwise (the root, orphans) keep the last figure.
      if (!trackedBefore.has(known.ppid)) this.deadTicks += known.ticks;
      this.tracked.delete(pid);
    }
    let ticks = this.deadTicks;
    let rss = 0;
    for (const stat of live.values()) {
      this.tracked.set(stat.pid, { starttime: stat.starttime, ticks: stat.ticks, ppid: stat.ppid });
      ticks += stat.ticks;
      if (stat.state === 'Z') continue;
      const memory = readMemory(stat.pid);
      rss += memory.rss;
      if (memory.hwm > this.rssPeak) this.rssPeak = memory.hwm;
    }
    if (rss > this.rssPeak) this.rssPeak = rss;
    if (ticks > this.cpuTicksPeak) this.cpuTicksPeak = ticks;
  }

  /** Signal every tracked process still alive (checked by start time, so a reused pid is left alone). */
  signal(signal: NodeJS.Signals): number {
    let count = 0;
    for (const [pid, known] of this.tracked) {
      if (readStat(pid)?.starttime !== known.starttime) continue;
      try {
        process.kill(pid, signal);
        count += 1;
      } catch {
        // Gone meanwhile.
      }
    }
    return count;
  }

  /** Tracked processes still running (zombies excluded). */
  livePids(): number[] {
    const pids: number[] = [];
    for (const [pid, known] of this.tracked) {
      const stat = readStat(pid);
      if (stat && stat.starttime === known.starttime && stat.state !== 'Z') pids.push(pid);
    }
    return pids;
  }
}
