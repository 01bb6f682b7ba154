import { readFileSync } from 'node:fs';

/** The main thread's time on a CPU and waiting on the run queue (ns), from /proc; undefined where there is none. */
function readMainThreadSchedstat(): { runNs: number; waitNs: number } | undefined {
  try {
    const [runNs, waitNs] = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { runNs, waitNs };
  } catch {
    return undefined;
  }
}

export interface LoopStalls {
  /** Ticks that came at least STALL_MS late. */
  count: number;
  /** Their lateness in all (ms). */
  lateMs: number;
  /** Of that, the main thread running (its own JavaScript, GC) and waiting for a CPU (other processes had both cores). */
  runningMs: number;
  waitingMs: number;
  /** The whole phase: the main thread's time running and waiting for a CPU (ms). */
  phaseRunningMs: number;
  phaseWaitingMs: number;
}

const TICK_MS = 10;
const STALL_MS = 50;

/**
 * Tells a blocked event loop from a starved one: a timer every 10 ms; for each tick that comes ≥ 50 ms late,
 * how much of the gap the main thread spent running and how much runnable but waiting for a CPU (Linux
 * schedstat). Running time is the loop's own work; waiting time is the machine's other processes.
 */
export class LoopStallMonitor {
  private readonly stalls = { count: 0, lateMs: 0, runningMs: 0, waitingMs: 0 };
  private timer: NodeJS.Timeout | null = null;
  private startSched: { runNs: number; waitNs: number } | undefined;

  start(): void {
    let last = performance.now();
    let lastSched = readMainThreadSchedstat();
    this.startSched = lastSched;
    const tick = () => {
      const now = performance.now();
      const sched = readMainThreadSchedstat();
      const lateMs = now - last - TICK_MS;
      if (lateMs >= STALL_MS && sched && lastSched) {
        this.stalls.count += 1;
        this.stalls.lateMs += lateMs;
        this.stalls.runningMs += (sched.runNs - lastSched.runNs) / 1e6;
        this.stalls.waitingMs += (sched.waitNs - lastSched.waitNs) / 1e6;
      }
      last = now;
      lastSched = sched;
      this.timer = setTimeout(tick, TICK_MS);
    };
    this.timer = setTimeout(tick, TICK_MS);
  }

  stop(): LoopStalls {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const end = readMainThreadSchedstat();
    const phase = (key: 'runNs' | 'waitNs') => (end && this.startSched ? (end[key] - this.startSched[key]) / 1e6 : Number.NaN);
    return { ...this.stalls, phaseRunningMs: phase('runNs'), phaseWaitingMs: phase('waitNs') };
  }
}
