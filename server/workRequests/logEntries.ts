import type { EntityManager } from '@mikro-orm/postgresql';
import type { LogEntry } from '../../protocol/workRequest';
import { formatBytes } from '../../protocol/units';
import { lockAssignedWorkRequest } from './lockAssignedWorkRequest';
import { notifyWorkRequestActivity, notifyWorkRequestsActivity } from './notifyChanges';
import { rawQuery } from '../sql/rawQuery';
import { transactional } from '../transactional';

interface LogRow { seq: number; ts: Date; stream: LogEntry['stream']; text: string }

/** Inside a transaction: a `system` entry numbered after the last one. */
export async function appendSystemLogLine(em: EntityManager, workRequestId: number, text: string): Promise<void> {
  await em.execute(
    `insert into log_chunk (work_request_id, seq, ts, stream, text)
     select ?, coalesce(max(seq) + 1, 0), now(), 'system', ? from log_chunk where work_request_id = ?`,
    [workRequestId, text, workRequestId],
  );
}

/**
 * Stores a batch from the assigned worker. Idempotent by seq (a re-sent batch inserts nothing new). The stored
 * log is capped at `maxBytes` per request: the first entry past the cap becomes a `system` entry saying so,
 * later ones are dropped. Answers whether the worker should stop the task (it was cancelled or reassigned).
 */
export async function appendLogEntries(
  em: EntityManager,
  workRequestId: number,
  workerId: number,
  entries: LogEntry[],
  maxBytes: number,
): Promise<{ cancel: boolean }> {
  return transactional(em, async (tem) => {
    const row = await lockAssignedWorkRequest(tem, workRequestId, workerId);
    const cancel = row.status !== 'running';
    if (row.logTruncated || entries.length === 0) return { cancel };

    const { accepted, truncated } = entriesWithinCap(entries, row.logBytes, maxBytes);
    const inserted = await tem.execute<{ bytes: number }[]>(
      `insert into log_chunk (work_request_id, seq, ts, stream, text)
       select ?, e.seq, e.ts, e.stream, e.text
       from unnest(array[?]::int[], array[?]::timestamptz[], array[?]::text[], array[?]::text[]) as e(seq, ts, stream, text)
       on conflict (work_request_id, seq) do nothing
       returning octet_length(text) as bytes`,
      [
        workRequestId,
        accepted.map((entry) => entry.seq),
        accepted.map((entry) => entry.ts),
        accepted.map((entry) => entry.stream),
        accepted.map((entry) => entry.text),
      ],
    );
    const added = inserted.reduce((sum, entry) => sum + Number(entry.bytes), 0);
    if (added > 0 || truncated) {
      await tem.execute(`update work_request set log_bytes = log_bytes + ?, log_truncated = log_truncated or ? where id = ?`, [
        added,
        truncated,
        workRequestId,
      ]);
      await notifyWorkRequestActivity(tem, workRequestId);
    }
    return { cancel };
  });
}

/**
 * The entries that fit in what is left of the cap, in seq order; the first one past it becomes a `system` entry
 * saying the log was truncated.
 */
function entriesWithinCap(entries: LogEntry[], storedBytes: number, maxBytes: number): { accepted: LogEntry[]; truncated: boolean } {
  let budget = maxBytes - storedBytes;
  const accepted: LogEntry[] = [];
  for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
    const size = Buffer.byteLength(entry.text, 'utf8');
    if (size > budget) {
      accepted.push({
        seq: entry.seq,
        ts: entry.ts,
        stream: 'system',
        text: `log truncated: the stored log of a work request is capped at ${formatBytes(maxBytes)}; later output was dropped`,
      });
      return { accepted, truncated: true };
    }
    budget -= size;
    accepted.push(entry);
  }
  return { accepted, truncated: false };
}

/**
 * The last log entries of finished tasks, carried with their reports (batch completion, a claim): stored as
 * POST .../logs would store each batch, for all of them in one transaction of three statements (through knex
 * directly: em.execute would spread the arrays into lists). Entries of a request not assigned to this worker
 * are dropped: its report is answered 404 or 409 on its own.
 */
export async function appendCarriedLogEntries(
  em: EntityManager,
  workerId: number,
  carried: Array<{ id: number; entries: LogEntry[] }>,
  maxBytes: number,
): Promise<void> {
  const byId = new Map<number, LogEntry[]>();
  for (const { id, entries } of carried) if (entries.length > 0) byId.set(id, [...(byId.get(id) ?? []), ...entries]);
  if (byId.size === 0) return;
  await transactional(em, async (tem) => {
    const rows = await rawQuery<{ id: string; log_bytes: string; log_truncated: boolean }>(
      tem,
      `select id, log_bytes, log_truncated from work_request where id = any(?::bigint[]) and worker_id = ? order by id for update`,
      [[...byId.keys()], workerId],
    );
    const columns = { id: [] as number[], seq: [] as number[], ts: [] as string[], stream: [] as string[], text: [] as string[] };
    const truncatedIds = new Set<number>();
    for (const row of rows) {
      if (row.log_truncated) continue;
      const id = Number(row.id);
      const { accepted, truncated } = entriesWithinCap(byId.get(id)!, Number(row.log_bytes), maxBytes);
      if (truncated) truncatedIds.add(id);
      for (const entry of accepted) {
        columns.id.push(id);
        columns.seq.push(entry.seq);
        columns.ts.push(entry.ts);
        columns.stream.push(entry.stream);
        columns.text.push(entry.text);
      }
    }
    if (columns.id.length === 0) return;
    const inserted = await rawQuery<{ id: string; bytes: number }>(
      tem,
      `insert into log_chunk (work_request_id, seq, ts, stream, text)
       select * from unnest(?::bigint[], ?::int[], ?::timestamptz[], ?::text[], ?::text[])
       on conflict (work_request_id, seq) do nothing
       returning work_request_id as id, octet_length(text) as bytes`,
      [columns.id, columns.seq, columns.ts, columns.stream, columns.text],
    );
    const added = new Map<number, number>([...truncatedIds].map((id) => [id, 0]));
    for (const row of inserted) added.set(Number(row.id), (added.get(Number(row.id)) ?? 0) + Number(row.bytes));
    if (added.size === 0) return;
    const ids = [...added.keys()];
    await rawQuery(
      tem,
      `update work_request set log_bytes = log_bytes + a.added, log_truncated = log_truncated or a.truncated
       from unnest(?::bigint[], ?::bigint[], ?::bool[]) as a(id, added, truncated) where work_request.id = a.id`,
      [ids, ids.map((id) => added.get(id)!), ids.map((id) => truncatedIds.has(id))],
    );
    await notifyWorkRequestsActivity(tem, ids);
  });
}

/** Entries after `afterSeq`, in order. */
export async function readLogEntries(
  em: EntityManager,
  workRequestId: number,
  afterSeq: number,
  limit: number,
): Promise<LogEntry[]> {
  const rows = await em.execute<LogRow[]>(
    `select seq, ts, stream, text from log_chunk where work_request_id = ? and seq > ? order by seq limit ?`,
    [workRequestId, afterSeq, limit],
  );
  return rows.map((row) => ({ seq: row.seq, ts: new Date(row.ts).toISOString(), stream: row.stream, text: row.text }));
}
