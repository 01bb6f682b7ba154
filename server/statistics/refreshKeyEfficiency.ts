import type { EntityManager } from '@mikro-orm/postgresql';
import { coresBusy } from '../sql/successProfile';

/** Keys refreshed per pass (the ones whose newest success is newest are not starved: oldest-stale first). */
const KEYS_PER_PASS = 1_000;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const HOUR_MS = 3_600_000;

interface EfficiencyRow {
  id: string;
  runs: number;
  efficiency_runs: string;
  asked_memory: string | null;
  used_memory_p95: number | null;
  asked_cpu: number | null;
  used_cpu_p95: number | null;
  mean_duration_ms: number | null;
}

/**
 * Slurm's `seff` per history key, into task_key (housekeeping): over the key's retained successful runs whose
 * request named `memory` / `cpu` explicitly, what they used (p95 of the peak memory; p95 of cpu_time / duration,
 * i.e. cores kept busy) against what the newest of them asked, a suggested request (the learned-requirement rule:
 * p95 × headroom for memory, rounded up to a MiB; cores p95 rounded up for cpu) and the waste, (asked − used) ×
 * all-time runs × mean duration, in GiB-hours and core-hours. The asked values come from each run's work
 * request (task_history.work_request_id). Only keys with a success counted since their last refresh are recomputed.
 * Returns how many keys were refreshed (a key whose row another transaction held is left for the next pass).
 */
export async function refreshKeyEfficiency(em: EntityManager, options: { headroom: number }): Promise<number> {
  // Stale by count, not by time: a success's completed_at is its transaction's start, so one that commits after
  // this read may carry an earlier time than the refresh. A success is in `successes` only once its history row
  // has committed, so the history read below sees at least the successes counted here.
  const stale = await em.execute<Array<{ id: string; task_name: string; subject: string; context: string; runs: number; successes: number }>>(
    `select id, task_name, subject, context, runs, successes from task_key
     where successes > efficiency_successes
     order by efficiency_at nulls first, id
     limit ?`,
    [KEYS_PER_PASS],
  );
  if (stale.length === 0) return 0;
  const rows = await em.execute<EfficiencyRow[]>(
    `select k.id, k.runs,
       count(*) filter (where r.requirements ->> 'memory' is not null or r.requirements ->> 'cpu' is not null) as efficiency_runs,
       (array_agg((r.requirements ->> 'memory')::bigint order by h.completed_at desc) filter (where r.requirements ->> 'memory' is not null))[1] as asked_memory,
       percentile_cont(0.95) within group (order by h.memory) filter (where r.requirements ->> 'memory' is not null) as used_memory_p95,
       (array_agg((r.requirements ->> 'cpu')::int order by h.completed_at desc) filter (where r.requirements ->> 'cpu' is not null))[1] as asked_cpu,
       percentile_cont(0.95) within group (order by ${coresBusy('h.')}) filter (where r.requirements ->> 'cpu' is not null) as used_cpu_p95,
       avg(h.duration_ms) filter (where r.requirements ->> 'memory' is not null or r.requirements ->> 'cpu' is not null) as mean_duration_ms
     from json_to_recordset(?::json) as k(id bigint, task_name text, subject text, context text, runs int)
     join task_history h on h.task_name = k.task_name and h.subject = k.subject and h.context = k.context and h.result = 'success'
     join work_request r on r.id = h.work_request_id
     group by k.id, k.runs`,
    [JSON.stringify(stale.map((key) => ({ id: Number(key.id), task_name: key.task_name, subject: key.subject, context: key.context, runs: key.runs })))],
  );
  const byId = new Map(rows.map((row) => [String(row.id), row]));
  const updates = stale.map((key) => ({
    ...toFigures(key.id, byId.get(String(key.id)) ?? null, key.runs, options.headroom),
    successes: Number(key.successes),
  }));
  // SKIP LOCKED: a key row a roll-up or retention holds is left for the next pass (it stays stale by count), so the
  // refresh never waits on them and cannot take part in a deadlock with them (they lock keys in other orders).
  const written = await em.execute<Array<{ id: string }>>(
    `with u as (
       select * from json_to_recordset(?::json) as u(id bigint, successes int, asked_memory bigint, used_memory_p95 float8, suggested_memory bigint,
         asked_cpu int, used_cpu_p95 float8, suggested_cpu int, efficiency_runs int, mean_duration_ms float8, memory_waste float8, cpu_waste float8)
     ), free as (
       select u.* from task_key k join u on u.id = k.id for update of k skip locked
     )
     update task_key k set asked_memory = u.asked_memory, used_memory_p95 = u.used_memory_p95, suggested_memory = u.suggested_memory,
       asked_cpu = u.asked_cpu, used_cpu_p95 = u.used_cpu_p95, suggested_cpu = u.suggested_cpu, efficiency_runs = u.efficiency_runs,
       mean_duration_ms = u.mean_duration_ms, memory_waste = u.memory_waste, cpu_waste = u.cpu_waste, efficiency_at = now(),
       efficiency_successes = u.successes
     from free u
     where k.id = u.id
     returning k.id`,
    [JSON.stringify(updates)],
  );
  return written.length;
}

function toFigures(id: string, row: EfficiencyRow | null, runs: number, headroom: number) {
  const askedMemory = row?.asked_memory === null || row?.asked_memory === undefined ? null : Number(row.asked_memory);
  const usedMemory = askedMemory === null || row?.used_memory_p95 === null || row?.used_memory_p95 === undefined ? null : Number(row.used_memory_p95);
  const askedCpu = row?.asked_cpu ?? null;
  const usedCpu = askedCpu === null || row?.used_cpu_p95 === null || row?.used_cpu_p95 === undefined ? null : Number(row.used_cpu_p95);
  const meanMs = row?.mean_duration_ms === null || row?.mean_duration_ms === undefined ? null : Number(row.mean_duration_ms);
  const heldHours = meanMs === null ? null : (runs * meanMs) / HOUR_MS;
  return {
    id: Number(id),
    asked_memory: askedMemory,
    used_memory_p95: usedMemory,
    suggested_memory: usedMemory === null ? null : Math.ceil((usedMemory * headroom) / MiB) * MiB,
    asked_cpu: askedCpu,
    used_cpu_p95: usedCpu,
    suggested_cpu: usedCpu === null ? null : Math.max(1, Math.ceil(usedCpu - 0.05)),
    efficiency_runs: Number(row?.efficiency_runs ?? 0),
    mean_duration_ms: meanMs,
    memory_waste: usedMemory === null || heldHours === null ? null : (Math.max(0, askedMemory! - usedMemory) / GiB) * heldHours,
    cpu_waste: usedCpu === null || heldHours === null ? null : Math.max(0, askedCpu! - usedCpu) * heldHours,
  };
}
