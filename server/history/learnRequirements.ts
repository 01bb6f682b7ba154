import type { EntityManager } from '@mikro-orm/postgresql';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import { formatBytes } from '../../protocol/units';
import type { LearnedRequirement } from '../../protocol/workRequest';
import { explicitRequirements, type EffectiveRequirements } from '../scheduler/effectiveRequirements';
import { successProfileQuery, type SuccessProfile } from '../sql/successProfile';
import { historyLevels, type HistoryKey } from './historyKey';

/** The effective requirements, and the learned ones among them with their reasons. */
export type LearnedRequirements = EffectiveRequirements & { learned: LearnedRequirement[] };

/**
 * What the history of successful runs says this task needs, for the resources its spec leaves open (an
 * explicit value wins: the user knows better). Uses the newest `sampleRuns` successful runs of the most specific
 * key level that has any, so the cost does not grow with the history between two retention passes.
 * Percentiles are PostgreSQL's percentile_cont (linear interpolation).
 */
export async function learnRequirements(
  em: EntityManager | HistoryQuery,
  key: HistoryKey,
  explicit: ResourceRequirements,
  options: { headroom: number; sampleRuns: number },
): Promise<LearnedRequirements> {
  const query: HistoryQuery = typeof em === 'function' ? em : (text, values) => em.execute(text, values as never[]);
  return requirementsFromProfile(await findSuccessProfile(query, key, options.sampleRuns), explicit, options.headroom);
}

/**
 * How learnRequirements reads history when not through an entity manager (a plain pg connection): `text` with
 * `?` placeholders, `level` the index of its key level (one text per level, for a named statement).
 */
export type HistoryQuery = (text: string, values: unknown[], level?: number) => Promise<unknown[]>;

/** The most specific key level's success profile (null: no level has successful runs). */
export interface LabelledSuccessProfile {
  label: string;
  stats: SuccessProfile;
}

/** What a success profile says about the resources the spec leaves open (an explicit value wins). */
export function requirementsFromProfile(profile: LabelledSuccessProfile | null, explicit: ResourceRequirements, headroom: number): LearnedRequirements {
  const learned: LearnedRequirement[] = [];
  if (profile) {
    const { label, stats } = profile;
    const runs = Number(stats.runs);
    const headroomText = headroom === 1 ? '' : ` × ${headroom} headroom`;
    const runsText = (count: number) => `${count} successful run${count === 1 ? '' : 's'} of ${label}`;
    if (explicit.memory === undefined) {
      if (stats.memory_p95 !== null && Number(stats.memory_runs) > 0) {
        const value = Math.ceil(stats.memory_p95 * headroom);
        learned.push({ resource: 'memory', value, reason: `memory ≥ ${formatBytes(value)}: p95 of ${runsText(Number(stats.memory_runs))} is ${formatBytes(Math.round(stats.memory_p95))}${headroomText}` });
      } else if (stats.min_available_memory !== null) {
        // Seed 000's reference data: no measured peaks, but it is known to work with this much free memory.
        const value = Number(stats.min_available_memory);
        learned.push({ resource: 'memory', value, reason: `memory ≥ ${formatBytes(value)}: no measured peaks; the smallest worker that ran ${runsText(runs)} had that much available` });
      }
    }
    if (explicit.disk === undefined && stats.disk_p95 !== null && Number(stats.disk_runs) > 0) {
      const value = Math.ceil(stats.disk_p95 * headroom);
      learned.push({ resource: 'disk', value, reason: `disk ≥ ${formatBytes(value)}: p95 of ${runsText(Number(stats.disk_runs))} is ${formatBytes(Math.round(stats.disk_p95))}${headroomText}` });
    }
    if (explicit.cpu === undefined && stats.cores_p95 !== null && stats.cores_p95 > 1.05) {
      const value = Math.ceil(stats.cores_p95 - 0.05);
      learned.push({ resource: 'cpu', value, reason: `cpu ≥ ${value}: p95 of ${runsText(runs)} kept ${stats.cores_p95.toFixed(1)} cores busy (cpu_time / duration)` });
    }
    if (stats.duration_p95_ms !== null && Number(stats.duration_runs) > 0) {
      const value = Math.ceil(stats.duration_p95_ms / 1000);
      learned.push({ resource: 'time', value, reason: `expected to take up to ${value}s: p95 duration of ${runsText(Number(stats.duration_runs))}` });
    }
  }
  const pick = (resource: LearnedRequirement['resource']) => learned.find((item) => item.resource === resource)?.value ?? null;
  const fromSpec = explicitRequirements(explicit);
  return {
    ...fromSpec,
    learned,
    needMemory: fromSpec.needMemory ?? pick('memory'),
    needDisk: fromSpec.needDisk ?? pick('disk'),
    needCpu: fromSpec.needCpu ?? pick('cpu'),
  };
}

async function findSuccessProfile(execute: HistoryQuery, key: HistoryKey, sampleRuns: number): Promise<LabelledSuccessProfile | null> {
  for (const [index, level] of historyLevels(key).entries()) {
    const query = successProfileQuery(level, sampleRuns);
    const rows = (await execute(query.text, query.values, index)) as SuccessProfile[];
    const stats = rows[0];
    if (stats && Number(stats.runs) > 0) return { label: level.label, stats };
  }
  return null;
}
