import type { TaskEfficiency, TaskStatistics } from '../../protocol/statistics';
import type { KeyEfficiency, TaskKeyCounters } from './listTaskKeys';
import type { SuccessPercentiles } from './successPercentiles';

/** A key's counters and percentiles as the API returns them: seconds, whole bytes, ISO times, '' → null. */
export function serializeTaskStatistics(counters: TaskKeyCounters, percentiles: SuccessPercentiles | null | undefined): TaskStatistics {
  const p = percentiles ?? null;
  return {
    task_name: counters.taskName,
    subject: counters.subject === '' ? null : counters.subject,
    context: counters.context === '' ? null : counters.context,
    runs: counters.runs,
    successes: counters.successes,
    failures: counters.failures,
    success_rate: counters.runs > 0 ? counters.successes / counters.runs : null,
    sampled_runs: p?.sampledRuns ?? 0,
    cost: counters.cost,
    duration: { p50: seconds(p?.durationMs.p50), p95: seconds(p?.durationMs.p95), max: seconds(p?.durationMs.max) },
    cpu_time: { p50: seconds(p?.cpuTimeMs.p50), p95: seconds(p?.cpuTimeMs.p95) },
    memory: { p50: wholeBytes(p?.memory.p50), p95: wholeBytes(p?.memory.p95), max: wholeBytes(p?.memory.max) },
    disk_space: { p95: wholeBytes(p?.diskSpace.p95), max: wholeBytes(p?.diskSpace.max) },
    last_success_at: isoTime(counters.lastSuccessAt),
    last_failure_at: isoTime(counters.lastFailureAt),
    last_run_at: isoTime(counters.lastRunAt),
    efficiency: counters.efficiency ? serializeEfficiency(counters.efficiency) : null,
  };
}

function serializeEfficiency(e: KeyEfficiency): TaskEfficiency {
  const memory =
    e.askedMemory !== null && e.usedMemoryP95 !== null && e.askedMemory > 0
      ? { asked: e.askedMemory, used_p95: Math.round(e.usedMemoryP95), ratio: e.usedMemoryP95 / e.askedMemory, suggested: e.suggestedMemory ?? Math.round(e.usedMemoryP95), waste_gib_hours: e.memoryWaste ?? 0 }
      : null;
  const cpu =
    e.askedCpu !== null && e.usedCpuP95 !== null && e.askedCpu > 0
      ? { asked: e.askedCpu, used_p95: e.usedCpuP95, ratio: e.usedCpuP95 / e.askedCpu, suggested: e.suggestedCpu ?? Math.max(1, Math.ceil(e.usedCpuP95)), waste_core_hours: e.cpuWaste ?? 0 }
      : null;
  return { runs: e.runs, memory, cpu, computed_at: e.computedAt.toISOString() };
}

function seconds(ms: number | null | undefined): number | null {
  return ms === null || ms === undefined ? null : ms / 1000;
}

function wholeBytes(bytes: number | null | undefined): number | null {
  return bytes === null || bytes === undefined ? null : Math.round(bytes);
}

function isoTime(value: Date | null): string | null {
  return value ? value.toISOString() : null;
}
