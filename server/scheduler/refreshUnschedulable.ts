import type { EntityManager } from '@mikro-orm/postgresql';
import type { EffectiveRequirements } from './effectiveRequirements';
import { pendingNeedsStatement, setUnschedulableReasonStatement, type PendingNeedsRow } from '../sql/pendingNeeds';
import { unschedulableReason, type WorkerCapacity } from './unschedulableReason';

/** Enabled workers' capacities, as the claim query compares them. */
export async function loadWorkerCapacities(em: EntityManager): Promise<WorkerCapacity[]> {
  const rows = await em.execute<{ total_memory: string; available_disk_space: string; cpu_count: number; gpu_count: number; tags: string[] }[]>(
    `select total_memory, available_disk_space, cpu_count, gpu_count, tags from worker where enabled`,
  );
  return rows.map((row) => ({
    totalMemory: Number(row.total_memory),
    availableDiskSpace: Number(row.available_disk_space),
    cpuCount: row.cpu_count,
    gpuCount: row.gpu_count,
    tags: row.tags,
  }));
}

const MAX_DISTINCT_NEEDS = 1_000;

/**
 * Re-evaluates which pending requests no enabled worker can run (workers come, go and change), per distinct
 * set of needs rather than per row (found by a skip scan of an index, so a pass costs about the same at 1,000
 * or 1,000,000 pending), and updates only the rows whose reason changed. Returns how many changed.
 */
export async function refreshUnschedulable(em: EntityManager): Promise<number> {
  const workers = await loadWorkerCapacities(em);
  const found = pendingNeedsStatement(MAX_DISTINCT_NEEDS);
  const groups = await em.execute<PendingNeedsRow[]>(found.text, found.values);
  let changed = 0;
  for (const group of groups) {
    const needs: EffectiveRequirements = {
      needMemory: Number(group.need_memory) < 0 ? null : Number(group.need_memory),
      needDisk: Number(group.need_disk) < 0 ? null : Number(group.need_disk),
      needCpu: group.need_cpu < 0 ? null : group.need_cpu,
      needGpu: group.need_gpu < 0 ? null : group.need_gpu,
      needTags: group.need_tags,
    };
    const reason = unschedulableReason(needs, workers);
    if ((reason ?? '') === group.reason) continue;
    // Rows a request's transaction holds (a cancel, a workflow settling) are left for the next pass: holding
    // the rows of earlier groups, this must not wait for them (it would in no order of theirs: a deadlock).
    const update = setUnschedulableReasonStatement(group, reason);
    changed += (await em.execute<{ id: string }[]>(update.text, update.values)).length;
  }
  return changed;
}
