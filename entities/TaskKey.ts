import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * Per-key counters over all recorded runs (retention prunes history rows, not these), updated in the same
 * transaction as each history row. They make the statistics listing sortable and pageable without
 * aggregating the whole history; percentiles are computed for the page's keys only.
 */
export const TaskKey = defineEntity({
  name: 'TaskKey',
  tableName: 'task_key',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    taskName: p.string(),
    subject: p.text().default(''),
    context: p.text().default(''),
    runs: p.integer().default(0),
    successes: p.integer().default(0),
    failures: p.integer().default(0),
    lastRunAt: p.datetime().nullable(),
    lastSuccessAt: p.datetime().nullable(),
    lastFailureAt: p.datetime().nullable(),
    // Efficiency (Slurm's seff) of the key's runs that named memory / cpu explicitly, refreshed by housekeeping.
    askedMemory: p.bigint('number').nullable(),
    usedMemoryP95: p.double().nullable(),
    suggestedMemory: p.bigint('number').nullable(),
    askedCpu: p.integer().nullable(),
    usedCpuP95: p.double().nullable(),
    suggestedCpu: p.integer().nullable(),
    efficiencyRuns: p.integer().default(0),
    meanDurationMs: p.double().nullable(),
    /** (asked − used) × runs × mean duration: GiB-hours and core-hours held but not used. */
    memoryWaste: p.double().nullable(),
    cpuWaste: p.double().nullable(),
    efficiencyAt: p.datetime().nullable(),
    /** `successes` when the efficiency was last computed: stale while `successes` is larger. */
    efficiencySuccesses: p.integer().default(0),
    /** Summed cost of its runs, and its mean duration (duration_ms_sum / timed_runs): a run's expected next attempt. */
    cost: p.double().default(0),
    timedRuns: p.integer().default(0),
    durationMsSum: p.bigint('number').default(0),
    /** Counts the changes of the key's retained successful runs (one rolled up, one pruned). */
    figuresVersion: p.integer().default(0),
    /** The statistics' success percentiles (SuccessPercentiles), valid while `percentilesVersion` = `figuresVersion`. */
    percentiles: p.json<Record<string, unknown>>().nullable(),
    percentilesVersion: p.integer().nullable(),
  }),
  uniques: [{ properties: ['taskName', 'subject', 'context'] }],
});
export type TaskKey = InferEntity<typeof TaskKey>;
