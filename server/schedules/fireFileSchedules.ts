import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { FilesTrigger } from '../../protocol/schedules';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { Logger } from '../../common/logger';
import {
  assignFilesStatement,
  FILE_SCHEDULES_STATEMENT,
  insertSeenFilesStatement,
  lockScheduleStatement,
  pendingFilesStatement,
  setScheduleErrorStatement,
  unfinishedSchedulesStatement,
  type LockedScheduleRow,
  type SeenFile,
} from '../sql/schedules';
import { createFirings, type CreatedFiring, type FiringContext, type FiringRequest } from './createFirings';
import { folderStamp, RACY_STAMP_MS, type FolderStamp } from './folderStamp';
import { inOrmTransaction } from './inTransaction';
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
  em: EntityManager,
  firing: Omit<FiringContext, 'em'>,
  scheduleId: number,
  trigger: FilesTrigger,
  options: { manual: boolean; known?: Set<string> },
): Promise<{ firings: FileFiring[]; error: string | null; seen: SeenFile[]; recorded: boolean; waiting: number }> {
  const { folder, expression, batch_size: batchSize } = trigger.files;
  let seen: SeenFile[];
  try {
    seen = await scanFolder(folder, expression);
  } catch (error) {
    const message = describeFolderError(folder, error);
    await pool.query(setScheduleErrorStatement(scheduleId, message));
    return { firings: [], error: message, seen: [], recorded: false, waiting: 0 };
  }
  const present = new Set(seen.map(fileKey));
  const fresh = options.known ? seen.filter((file) => !options.known!.has(fileKey(file))) : seen;
  const outcome = await inOrmTransaction(em, async (client, tem) => {
    const locked = (await client.query<LockedScheduleRow>(lockScheduleStatement(scheduleId, !options.manual))).rows[0];
    if (!locked || (!options.manual && !locked.enabled)) return { recorded: false, firings: [], waiting: 0 };
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
    const advances = requests.length > 0 ? [{ id: scheduleId, nextFireAt: null, skipped: 0 }] : [];
    const { created } = await createFirings(client, requests, advances, { ...firing, em: tem });
    const byTime = new Map(requests.map((request) => [request.fireTime.getTime(), request]));
    const fired = created.map((made) => ({ ...made, batch: byTime.get(made.fireTime.getTime())!.batch }));
    const assignments = [
      ...gone.map((file) => ({ ...file, firingId: null })),
      ...fired.flatMap((made) => made.batch.map((file) => ({ ...file, firingId: made.id }))),
    ];
    if (assignments.length > 0) await client.query(assignFilesStatement(scheduleId, assignments));
    const firedFiles = fired.reduce((sum, made) => sum + made.batch.length, 0);
    return { recorded: true, waiting: ready.length - firedFiles, firings: fired.map(({ batch, ...made }) => ({ ...made, files: batch.map((file) => file.path) })) };
  });
  return { ...outcome, error: null, seen };
}

/** What a files tick remembers of one schedule's folder between looks. */
interface FolderState {
  /** The files this process recorded (the ledger in the database is what counts; the set only saves work). */
  known: Set<string>;
  /** The folder's stamp just before the last look; null: look again at the next tick. */
  stamp: FolderStamp | null;
  lookedAt: number;
}

/**
 * The files tick of one server process: every enabled files schedule. A folder is looked at (listed, its files
 * stat'ed, the ledger updated) only when its stamp (folderStamp) changed since the last look, when that look
 * left full batches waiting (overlap skip, or more than a tick fires) or failed, and every `rescanMs` whatever
 * the stamp says (a file rewritten in place leaves its folder's stamp alone); otherwise a tick costs one stat.
 */
export class FileTriggers {
  private readonly states = new Map<number, FolderState>();

  constructor(
    private readonly pool: Pool,
    private readonly em: EntityManager,
    private readonly firing: Omit<FiringContext, 'em'>,
    private readonly logger: Logger,
    private readonly rescanMs: number,
  ) {}

  async tick(): Promise<{ fired: number; looked: number }> {
    const { rows } = await this.pool.query<{ id: string; trigger: FilesTrigger }>(FILE_SCHEDULES_STATEMENT);
    let fired = 0;
    let looked = 0;
    const active = new Set<number>();
    for (const row of rows) {
      const id = Number(row.id);
      active.add(id);
      const state = this.states.get(id);
      const started = Date.now();
      const stamp = await folderStamp(row.trigger.files.folder);
      if (state?.stamp && stamp?.key === state.stamp.key && started - state.lookedAt < this.rescanMs) continue;
      looked += 1;
      try {
        const outcome = await fireFileSchedule(this.pool, this.em, this.firing, id, row.trigger, { manual: false, known: state?.known });
        fired += outcome.firings.length;
        if (!outcome.recorded) {
          this.states.delete(id);
          continue;
        }
        const settled = outcome.waiting < row.trigger.files.batch_size && stamp !== null && stamp.mtimeMs < started - RACY_STAMP_MS;
        // What is in the folder now is recorded (or was already): forget files that left it.
        this.states.set(id, { known: new Set(outcome.seen.map(fileKey)), stamp: settled ? stamp : null, lookedAt: started });
      } catch (error) {
        this.states.delete(id);
        this.logger.error({ err: error, schedule_id: id }, 'a files schedule could not fire; it is tried again at the next tick');
      }
    }
    for (const id of this.states.keys()) if (!active.has(id)) this.states.delete(id);
    return { fired, looked };
  }
}
