import type { EntityManager } from '@mikro-orm/postgresql';
import { appendSystemLogLine } from '../workRequests/logEntries';
import { notifyPendingWork, notifyWorkRequestActivity } from '../workRequests/notifyChanges';
import type { EffectiveRequirements } from './effectiveRequirements';
import { workerFits, type WorkerCapacity } from './unschedulableReason';

/** Waiting requests looked at per pass (the highest in claim order). */
const MAX_CANDIDATES = 100;
/** A reservation lasts at least this long: the preempted task gets SIGTERM, then the worker's kill grace. */
const MIN_RESERVATION_S = 30;

export interface Preemption {
  victim: number;
  victimPriority: number;
  by: number;
  priority: number;
  worker: string;
}

interface CandidateRow {
  id: string;
  priority: number;
  need_memory: string | null;
  need_disk: string | null;
  need_cpu: number | null;
  need_gpu: number | null;
  need_tags: string[];
}

interface WorkerRow {
  id: string;
  name: string;
  total_memory: string;
  available_disk_space: string;
  cpu_count: number;
  gpu_count: number;
  tags: string[];
  concurrency: number;
  running: string;
  reserved: string;
}

interface RunningRow {
  id: string;
  worker_id: string;
  priority: number;
  started_at: Date | null;
}

/**
 * Preemption (seed 004's `interrupt_allowed`), inside the housekeeping transaction that holds its advisory lock.
 * A pending request that waited over `preemptAfterS` and that no worker that fits it has a free slot for, while
 * one of those workers runs an `interrupt_allowed` request of strictly lower effective priority, preempts the
 * lowest-priority, youngest such request: that one goes back to pending at once (same attempt, no history row:
 * it did not fail), with state_reason "preempted by #N (priority P)"; its worker learns it from its next
 * heartbeat (or log post) and stops the task (SIGTERM, then its kill grace) without reporting it; and the freed
 * slot is reserved for the preempting request (the claim keeps it: server/sql/claim.ts). A request preempted
 * within the last `preemptAfterS` is not preempted again; one request preempts at most one other per pass.
 */
export async function preemptForWaiting(em: EntityManager, preemptAfterS: number): Promise<Preemption[]> {
  if (preemptAfterS <= 0) return [];
  const candidates = await em.execute<CandidateRow[]>(
    `select id, priority + priority_adjustment as priority, need_memory, need_disk, need_cpu, need_gpu, need_tags
     from work_request
     where status = 'pending' and unschedulable_reason is null and (not_before is null or not_before <= now())
       and greatest(created_at, coalesce(not_before, created_at)) < now() - make_interval(secs => ?)
       and not (reserved_worker_id is not null and reserved_until > now())
     order by (priority + priority_adjustment) desc, created_at, id
     limit ?`,
    [preemptAfterS, MAX_CANDIDATES],
  );
  if (candidates.length === 0) return [];
  const victims = await em.execute<RunningRow[]>(
    `select id, worker_id, priority + priority_adjustment as priority, started_at from work_request
     where status = 'running' and interrupt_allowed and priority + priority_adjustment < ?
       and (preempted_at is null or preempted_at < now() - make_interval(secs => ?))`,
    [Math.max(...candidates.map((candidate) => candidate.priority)), preemptAfterS],
  );
  if (victims.length === 0) return [];
  const workers = await em.execute<WorkerRow[]>(
    `select w.id, w.name, w.total_memory, w.available_disk_space, w.cpu_count, w.gpu_count, w.tags, w.concurrency,
       (select count(*) from work_request x where x.status = 'running' and x.worker_id = w.id) as running,
       (select count(*) from work_request p where p.status = 'pending' and p.reserved_worker_id = w.id and p.reserved_until > now()) as reserved
     from worker w where w.enabled and w.online`,
  );
  const byWorker = new Map<string, RunningRow[]>();
  for (const victim of victims) byWorker.set(victim.worker_id, [...(byWorker.get(victim.worker_id) ?? []), victim]);
  const taken = new Set<string>();
  const done: Preemption[] = [];
  for (const candidate of candidates) {
    const needs = needsOf(candidate);
    const fitting = workers.filter((worker) => workerFits(capacityOf(worker), needs));
    // A free slot somewhere: the claim places it, nothing to preempt.
    if (fitting.length === 0 || fitting.some((worker) => Number(worker.running) + Number(worker.reserved) < worker.concurrency)) continue;
    let chosen: { victim: RunningRow; worker: WorkerRow } | null = null;
    for (const worker of fitting) {
      for (const victim of byWorker.get(worker.id) ?? []) {
        if (taken.has(victim.id) || victim.priority >= candidate.priority) continue;
        if (chosen === null || isBetterVictim(victim, chosen.victim)) chosen = { victim, worker };
      }
    }
    if (chosen === null) continue;
    taken.add(chosen.victim.id);
    const preempted = await requeuePreempted(em, Number(chosen.victim.id), Number(chosen.worker.id), Number(candidate.id), candidate.priority);
    if (!preempted) continue;
    await reserveSlot(em, Number(candidate.id), chosen.worker, Number(chosen.victim.id), chosen.victim.priority, Math.max(MIN_RESERVATION_S, preemptAfterS));
    // The slot stays taken (by the reservation) for the rest of this pass.
    chosen.worker.reserved = String(Number(chosen.worker.reserved) + 1);
    chosen.worker.running = String(Number(chosen.worker.running) - 1);
    done.push({ victim: Number(chosen.victim.id), victimPriority: chosen.victim.priority, by: Number(candidate.id), priority: candidate.priority, worker: chosen.worker.name });
  }
  return done;
}

/** Lowest effective priority first, then the youngest (started last: it loses the least work). */
function isBetterVictim(a: RunningRow, b: RunningRow): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  const started = (row: RunningRow) => (row.started_at ? new Date(row.started_at).getTime() : 0);
  if (started(a) !== started(b)) return started(a) > started(b);
  return Number(a.id) > Number(b.id);
}

/** Running on `workerId` → pending, same attempt, no history; false when it is no longer running there. */
async function requeuePreempted(em: EntityManager, victimId: number, workerId: number, byId: number, byPriority: number): Promise<boolean> {
  const reason = `preempted by #${byId} (priority ${byPriority})`;
  const rows = await em.execute<{ id: string }[]>(
    `update work_request set status = 'pending', worker_id = null, started_at = null, state_reason = ?, preempted_at = now()
     where id = (select id from work_request where id = ? and status = 'running' and worker_id = ? for update skip locked)
     returning id`,
    [reason, victimId, workerId],
  );
  if (rows.length === 0) return false;
  await appendSystemLogLine(em, victimId, `${reason}: requeued as pending (same attempt); the worker was asked to stop it`);
  await notifyPendingWork(em);
  await notifyWorkRequestActivity(em, victimId);
  return true;
}

async function reserveSlot(em: EntityManager, id: number, worker: WorkerRow, victimId: number, victimPriority: number, seconds: number): Promise<void> {
  await em.execute(
    `update work_request set reserved_worker_id = ?, reserved_until = now() + make_interval(secs => ?), state_reason = ?
     where id = ? and status = 'pending'`,
    [worker.id, seconds, `preempted #${victimId} (priority ${victimPriority}) on worker ${worker.name}; that slot is kept for it`, id],
  );
  await notifyWorkRequestActivity(em, id);
}

function needsOf(row: CandidateRow): EffectiveRequirements {
  return {
    needMemory: row.need_memory === null ? null : Number(row.need_memory),
    needDisk: row.need_disk === null ? null : Number(row.need_disk),
    needCpu: row.need_cpu,
    needGpu: row.need_gpu,
    needTags: row.need_tags,
  };
}

function capacityOf(row: WorkerRow): WorkerCapacity {
  return { totalMemory: Number(row.total_memory), availableDiskSpace: Number(row.available_disk_space), cpuCount: row.cpu_count, gpuCount: row.gpu_count, tags: row.tags };
}
