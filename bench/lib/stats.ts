import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    mean,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  };
}

export const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a');
export const rate = (value: number): string => `${Math.round(value).toLocaleString('en-US')}/s`;

export function describeLatency(summary: Summary): string {
  return `p50 ${ms(summary.p50)}  p95 ${ms(summary.p95)}  p99 ${ms(summary.p99)}  max ${ms(summary.max)}  (n=${summary.n})`;
}

let postmasterPid: number | undefined;

/** The embedded PostgreSQL's postmaster: its process tree's CPU is then reported separately. */
export function setPostgresProcessRoot(pid: number | undefined): void {
  postmasterPid = pid;
}

/**
 * CPU over a phase: this Node process (the server and the simulated workers share it), the embedded PostgreSQL's
 * processes, and the whole machine, whose remainder is other people's work (the machine may be shared).
 * Percentages are of one core.
 */
export class CpuMeter {
  private readonly startProcess = process.cpuUsage();
  private readonly startMachine = readMachineTicks();
  private readonly startPostgres = readPostgresTicks();
  private readonly startWall = process.hrtime.bigint();
  private readonly cores = os.cpus().length;

  read(): { node: number; postgres: number; machine: number; others: number; postgresByKind: Map<string, number> } {
    const wallUs = Number(process.hrtime.bigint() - this.startWall) / 1000;
    const usage = process.cpuUsage(this.startProcess);
    const node = wallUs > 0 ? ((usage.user + usage.system) / wallUs) * 100 : 0;
    const endMachine = readMachineTicks();
    const endPostgres = readPostgresTicks();
    let machine = Number.NaN;
    let postgres = Number.NaN;
    const postgresByKind = new Map<string, number>();
    if (this.startMachine && endMachine) {
      const total = endMachine.total - this.startMachine.total;
      const idle = endMachine.idle - this.startMachine.idle;
      const ticksPerCore = total / this.cores;
      machine = total > 0 ? ((total - idle) / ticksPerCore) * 100 : 0;
      if (endPostgres && this.startPostgres && ticksPerCore > 0) {
        let ticks = 0;
        for (const [pid, value] of endPostgres) {
          const used = value - (this.startPostgres.get(pid) ?? 0);
          ticks += used;
          const kind = processKind(pid);
          postgresByKind.set(kind, (postgresByKind.get(kind) ?? 0) + (used / ticksPerCore) * 100);
        }
        postgres = (ticks / ticksPerCore) * 100;
      }
    }
    const others = Math.max(0, machine - node - (Number.isFinite(postgres) ? postgres : 0));
    return { node, postgres, machine, others, postgresByKind };
  }

  /** CPU milliseconds per unit of work since the meter started. */
  perUnitMs(units: number): { node: number; postgres: number } {
    const wallS = Number(process.hrtime.bigint() - this.startWall) / 1e9;
    const { node, postgres } = this.read();
    const cpuMs = (percent: number) => ((percent / 100) * wallS * 1000) / Math.max(1, units);
    return { node: cpuMs(node), postgres: cpuMs(postgres) };
  }

  /** `units`: divide the CPU time by this many units of work (requests) to print CPU ms per unit. */
  describe(units?: number): string {
    const wallS = Number(process.hrtime.bigint() - this.startWall) / 1e9;
    const { node, postgres, others, postgresByKind } = this.read();
    const pct = (value: number) => (Number.isFinite(value) ? `${value.toFixed(0)}%` : 'n/a');
    const load = os.loadavg()[0].toFixed(1);
    const kinds = [...postgresByKind.entries()]
      .filter(([, value]) => value >= 1)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, value]) => `${kind} ${pct(value)}`)
      .join(', ');
    let perUnit = '';
    if (units && units > 0) {
      const cpuMs = (percent: number) => ((percent / 100) * wallS * 1000) / units;
      perUnit = `; per request: node ${cpuMs(node).toFixed(2)} ms + postgres ${Number.isFinite(postgres) ? cpuMs(postgres).toFixed(2) : '?'} ms CPU`;
    }
    return `CPU (% of one core, ${this.cores} cores): node ${pct(node)}, postgres ${pct(postgres)}${kinds ? ` (${kinds})` : ''}, everything else ${pct(others)}; load avg ${load}${perUnit}`;
  }
}

function readMachineTicks(): { total: number; idle: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    return { total, idle: fields[3] + fields[4] }; // idle + iowait
  } catch {
    return undefined;
  }
}

/** What a postgres process is, from its process title: "backend", "autovacuum worker", "walwriter", … */
const processKinds = new Map<number, string>();

function processKind(pid: number): string {
  let kind = processKinds.get(pid);
  if (kind) return kind;
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    const match = /^postgres: (.*)$/.exec(title);
    if (!match) kind = 'postmaster';
    else if (/\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]/.test(match[1])) kind = 'backends';
    else kind = match[1].replace(/\s+\S*\d.*$/, '').trim() || 'other';
  } catch {
    kind = 'other';
  }
  processKinds.set(pid, kind);
  return kind;
}

/** utime+stime (clock ticks) of the postmaster and its children, by pid. */
function readPostgresTicks(): Map<number, number> | undefined {
  if (postmasterPid === undefined) return undefined;
  const ticks = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      if (pid !== postmasterPid && ppid !== postmasterPid) continue;
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      processKind(pid);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}
