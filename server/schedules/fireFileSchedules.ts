import type { Pool } from 'pg';
import type { FilesTrigger } from '../../protocol/schedules';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { Logger } from '../../common/logger';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import {
  assignFilesStatement,
  FILE_SCHEDULES_STATEMENT,
  insertSeenFilesStatement,
  lockScheduleStatement,
  pendingFilesStatement,
  setScheduleErrorStatement,
  unfinishedSchedulesStatement,
  updateSchedulesStatement,
  type LockedScheduleRow,
  type SeenFile,
} from '../sql/schedules';
import { createFirings, type CreatedFiring, type FiringRequest } from './createFirings';
import { inTransaction } from './inTransaction';
import { describeFolderError, fileKey, scanFolder } from './scanFolder';

/** At most this many batches fire per schedule and tick. */
const MAX_BATCHES_PER_TICK = 1_000;

export interface FileFiring extends CreatedFiring {
  files: string[];
}

/**
 * Looks at the folder of one files schedule and fires its new files: each file (path + size + mtime) is recorded
 * once in schedule_file, and full batches of `batch_size` pending files fire in the transaction that assigns
 * them, so a file fires once however many replicas look and across restarts. A pending file that is gone or
 * changed (a new mtime is a new file) is dropped before it fires. `manual` (POST …/trigger) also fires a partial
 * batch and ignores pause and overlap. `known` holds the files this process already recorded: they are not sent
 * again (the ledger in the database is what counts; the set only saves work).
 */
export async function fireFileSchedule(
  pool: Pool,
  policy: SchedulingPolicy,
  scheduleId: number,
  trigger: FilesTrigger,
  options: { manual: boolean; known?: Set<string> },
): Promise<{ firings: FileFiring[]; error: string | null; seen: SeenFile[]; recorded: boolean }> {
  const { folder, expression, batch_size: batchSize } = trigger.files;
  let seen: SeenFile[];
  try {
    seen = await scanFolder(folder, expression);
  } catch (error) {
    const message = describeFolderError(folder, error);
    await pool.query(setScheduleErrorStatement(scheduleId, message));
    return { firings: [], error: message, seen: [], recorded: false };
  }
  const present = new Set(seen.map(fileKey));
  const fresh = options.known ? seen.filter((file) => !options.known!.has(fileKey(file))) : seen;
  const outcome = await inTransaction(pool, async (client) => {
    const locked = (await client.query<LockedScheduleRow>(lockScheduleStatement(scheduleId, !options.manual))).rows[0];
    if (!locked || (!options.manual && !locked.enabled)) return { recorded: false, firings: [] };
    await client.query(setScheduleErrorStatement(scheduleId, null));
    if (fresh.length > 0) await client.query(insertSeenFilesStatement(scheduleId, fresh));
    const pending = (await client.query<{ path: string; size: string; mtime_ns: string }>(pendingFilesStatement(scheduleId))).rows.map((row) => ({
      path: row.path,
      size: BigInt(row.size),
      mtimeNs: BigInt(row.mtime_ns),
    }));
    const gone = pending.filter((file) => !present.has(fileKey(file)));
    const ready = pending.filter((file) => present.has(fileKey(file)));
    let batches = Math.min(MAX_BATCHES_PER_TICK, options.manual ? Math.ceil(ready.length / batchSize) : Math.floor(ready.length / batchSize));
    if (!options.manual && locked.overlap === 'skip' && batches > 0) {
      const busy = (await client.query(unfinishedSchedulesStatement([locked.name]))).rows.length > 0;
      batches = busy ? 0 : 1;
    }
    const requests: Array<FiringRequest & { batch: SeenFile[] }> = [];
    for (let index = 0; index < batches; index += 1) {
      const batch = ready.slice(index * batchSize, (index + 1) * batchSize);
      requests.push({
        scheduleId,
        scheduleName: locked.name,
        // Distinct keys for the batches of one look (the time is when the files were taken).
        fireTime: new Date(locked.now.getTime() + index),
        reason: options.manual ? 'manual' : 'files',
        files: batch.map((file) => file.path),
        spec: locked.spec as TaskSpec,
        batch,
      });
    }
    const created = await createFirings(client, requests, policy);
    const byTime = new Map(requests.map((request) => [request.fireTime.getTime(), request]));
    const fired = created.map((firing) => ({ ...firing, batch: byTime.get(firing.fireTime.getTime())!.batch }));
    const assignments = [
      ...gone.map((file) => ({ ...file, firingId: null })),
      ...fired.flatMap((firing) => firing.batch.map((file) => ({ ...file, firingId: firing.id }))),
    ];
    if (assignments.length > 0) await client.query(assignFilesStatement(scheduleId, assignments));
    if (fired.length > 0) await client.query(updateSchedulesStatement([{ id: scheduleId, nextFireAt: null, fired: fired.length, skipped: 0 }]));
    return { recorded: true, firings: fired.map(({ batch, ...firing }) => ({ ...firing, files: batch.map((file) => file.path) })) };
  });
  return { ...outcome, error: null, seen };
}

/** The files tick of one server process: every enabled files schedule, with the files this process has recorded. */
export class FileTriggers {
  private readonly known = new Map<number, Set<string>>();

  constructor(
    private readonly pool: Pool,
    private readonly policy: SchedulingPolicy,
    private readonly logger: Logger,
  ) {}

  async tick(): Promise<{ fired: number }> {
    const { rows } = await this.pool.query<{ id: string; trigger: FilesTrigger }>(FILE_SCHEDULES_STATEMENT);
    let fired = 0;
    const active = new Set<number>();
    for (const row of rows) {
      const id = Number(row.id);
      active.add(id);
      try {
        const outcome = await fireFileSchedule(this.pool, this.policy, id, row.trigger, { manual: false, known: this.known.get(id) });
        fired += outcome.firings.length;
        // What is in the folder now is recorded (or was already): forget files that left it.
        if (outcome.recorded) this.known.set(id, new Set(outcome.seen.map(fileKey)));
      } catch (error) {
        this.known.delete(id);
        this.logger.error({ err: error, schedule_id: id }, 'a files schedule could not fire; it is tried again at the next tick');
      }
    }
    for (const id of this.known.keys()) if (!active.has(id)) this.known.delete(id);
    return { fired };
  }
}
