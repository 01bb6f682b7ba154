import type { EntityManager } from '@mikro-orm/postgresql';
import type { EffectiveRequirements } from './effectiveRequirements';
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
 * set of needs rather than per row, and updates only the rows whose reason changed. Returns how many changed.
 */
export async function refreshUnschedulable(em: EntityManager): Promise<number> {
  const workers = await loadWorkerCapacities(em);
  const groups = await em.execute<{ need_memory: string | null; need_disk: string | null; need_cpu: number | null; need_gpu: number | null; need_tags: string[]; unschedulable_reason: string | null }[]>(
    `select distinct need_memory, need_disk, need_cpu, need_gpu, need_tags, unschedulable_reason
     from work_request where status = 'pending' limit ?`,
    [MAX_DISTINCT_NEEDS],
  );
  let changed = 0;
  for (const group of groups) {
    const needs: EffectiveRequirements = {
      needMemory: group.need_memory === null ? null : Number(group.need_memory),
      needDisk: group.need_disk === null ? null : Number(group.need_disk),
      needCpu: group.need_cpu,
      needGpu: group.need_gpu,
      needTags: group.need_tags,
    };
    const reason = unschedulableReason(needs, workers);
    if (reason === group.unschedulable_reason) continue;
    // Rows a request's transaction holds (a cancel, a workflow settling) are left for the next pass: holding
    // the rows of earlier groups, this must not wait for them (it would in no order of theirs: a deadlock).
    const result = await em.execute<{ id: string }[]>(
      `update work_request set unschedulable_reason = ?
       where id in (select id from work_request
         where status = 'pending' and need_memory is not distinct from ? and need_disk is not distinct from ?
           and need_cpu is not distinct from ? and need_gpu is not distinct from ? and need_tags = array[?]::text[]
           and unschedulable_reason is not distinct from ?
         for update skip locked)
       returning id`,
      [reason, group.need_memory, group.need_disk, group.need_cpu, group.need_gpu, group.need_tags, group.unschedulable_reason],
    );
    changed += result.length;
  }
  return changed;
}
