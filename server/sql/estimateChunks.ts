import type { EntityManager } from '@mikro-orm/postgresql';
import { parseIntegers } from './aggregatedColumns';
import { rawQuery } from './rawQuery';

/**
 * How estimates are stored (work_request_eta_chunk): 64 requests to a row, request `id` at element `id % 64 + 1`
 * of row `id / 64`'s arrays: expected start and end (epoch ms), the wording's id in work_request_eta_reason and
 * the hash of its shape (what the estimates pass compares). NONE stands for a missing value (no NULLs: see
 * writeEstimates); a reason of NONE means no estimate is stored for that request.
 */
export const ESTIMATE_CHUNK = 64;

/** A missing value in the chunks' arrays (no time, no estimate); never a real time (1969) or wording id. */
export const NONE = -1;

/**
 * A lateral join that gives request `idSql` (an SQL expression) its stored estimate as `alias`.expected_start_at,
 * .expected_end_at and .eta_reason: one primary-key look-up. `left`: null columns where none; `inner`: only
 * requests that have one.
 */
export function joinStoredEstimate(idSql: string, alias: string, kind: 'left' | 'inner' = 'left'): string {
  return `${kind === 'left' ? 'left' : 'cross'} join lateral (
       select to_timestamp(nullif(c.start_ms[s.slot], ${NONE}) / 1000.0) as expected_start_at,
         to_timestamp(nullif(c.end_ms[s.slot], ${NONE}) / 1000.0) as expected_end_at,
         d.reason as eta_reason
       from (select (${idSql} % ${ESTIMATE_CHUNK})::int + 1 as slot) s
       join work_request_eta_chunk c on c.chunk = ${idSql} / ${ESTIMATE_CHUNK} and c.reason_id[s.slot] <> ${NONE}
       left join work_request_eta_reason d on d.id = c.reason_id[s.slot]
     ) ${alias}${kind === 'left' ? ' on true' : ''}`;
}

/** The stored chunks the pass read: one array per column, ESTIMATE_CHUNK elements per chunk, as stored (NONE). */
export interface StoredChunks {
  /** Chunk number → its position p: its elements are at p * ESTIMATE_CHUNK … */
  position: Map<number, number>;
  startMs: Float64Array;
  endMs: Float64Array;
  reasonId: Float64Array;
  shape: Float64Array;
}

/** Where request `id`'s stored estimate is in `stored`'s arrays, or -1 when none is stored. */
export function storedIndex(stored: StoredChunks, id: number): number {
  const position = stored.position.get(Math.floor(id / ESTIMATE_CHUNK));
  if (position === undefined) return -1;
  const index = position * ESTIMATE_CHUNK + (id % ESTIMATE_CHUNK);
  return stored.reasonId[index] === NONE ? -1 : index;
}

/** A stored time (epoch ms), NaN for NONE. */
export function storedTime(values: Float64Array, index: number): number {
  return values[index] === NONE ? Number.NaN : values[index];
}

/**
 * The stored chunks that hold any of these requests, in one statement answering one row (each column aggregated
 * into one string, as readPendingForEstimates does: the driver parses a few long strings much faster than
 * thousands of arrays).
 */
export async function readStoredChunks(em: EntityManager, ids: ArrayLike<number>): Promise<StoredChunks> {
  const wanted = new Set<number>();
  for (let index = 0; index < ids.length; index += 1) wanted.add(Math.floor(ids[index] / ESTIMATE_CHUNK));
  const [row] = wanted.size === 0 ? [] : await rawQuery<Record<string, string | null>>(
    em,
    `select string_agg(c.chunk::text, ',' order by c.chunk) as chunks,
       string_agg(array_to_string(c.start_ms, ',', ''), ',' order by c.chunk) as start_ms,
       string_agg(array_to_string(c.end_ms, ',', ''), ',' order by c.chunk) as end_ms,
       string_agg(array_to_string(c.reason_id, ',', ''), ',' order by c.chunk) as reason_id,
       string_agg(array_to_string(c.shape, ',', ''), ',' order by c.chunk) as shape
     from work_request_eta_chunk c where c.chunk = any(?::bigint[])`,
    [`{${[...wanted].join(',')}}`],
  );
  const chunks = row?.chunks ? [...parseIntegers(row.chunks, row.chunks.split(',').length)] : [];
  const size = chunks.length * ESTIMATE_CHUNK;
  return {
    position: new Map(chunks.map((chunk, position) => [chunk, position])),
    startMs: parseIntegers(row?.start_ms, size),
    endMs: parseIntegers(row?.end_ms, size),
    reasonId: parseIntegers(row?.reason_id, size),
    shape: parseIntegers(row?.shape, size),
  };
}

/** One estimate to store; times in epoch ms (null: none). `keepStart` leaves the stored start as it is. */
export interface EstimateWrite {
  id: number;
  startMs: number | null;
  endMs: number | null;
  /** Index into the reasons given to writeEstimates. */
  reason: number;
  keepStart: boolean;
}

/**
 * Stores estimates: every chunk that holds one of them is written whole, as read by the pass with these
 * estimates put in (elements of other requests, such as ended ones kept for a while, stay as they were). One
 * upsert for all the chunks: each column goes as one flat array literal (the chunks' arrays one after the other)
 * that the statement slices; no NULLs in it (NONE instead), so a slice is a copy, not a walk of the null bitmap.
 * Sound because the pass is the only writer and holds its advisory lock (pruning takes it too), so the chunks it
 * read are the chunks there are.
 */
export async function writeEstimates(
  em: EntityManager,
  stored: StoredChunks,
  writes: EstimateWrite[],
  reasons: string[],
  shapes: number[],
): Promise<void> {
  if (writes.length === 0) return;
  const reasonIds = await storeReasons(em, reasons, writes);
  // Each chunk written gets a place in the flat arrays, filled from its stored arrays (or empty).
  const placeOf = new Map<number, number>();
  for (const write of writes) {
    const chunk = Math.floor(write.id / ESTIMATE_CHUNK);
    if (!placeOf.has(chunk)) placeOf.set(chunk, placeOf.size);
  }
  const size = placeOf.size * ESTIMATE_CHUNK;
  const column = (from: Float64Array) => {
    const values = new Float64Array(size).fill(NONE);
    for (const [chunk, place] of placeOf) {
      const position = stored.position.get(chunk);
      if (position !== undefined) values.set(from.subarray(position * ESTIMATE_CHUNK, (position + 1) * ESTIMATE_CHUNK), place * ESTIMATE_CHUNK);
    }
    return values;
  };
  const startMs = column(stored.startMs);
  const endMs = column(stored.endMs);
  const reasonId = column(stored.reasonId);
  const shape = column(stored.shape);
  for (const write of writes) {
    const index = placeOf.get(Math.floor(write.id / ESTIMATE_CHUNK))! * ESTIMATE_CHUNK + (write.id % ESTIMATE_CHUNK);
    if (!write.keepStart) startMs[index] = write.startMs === null ? NONE : Math.round(write.startMs);
    endMs[index] = write.endMs === null ? NONE : Math.round(write.endMs);
    reasonId[index] = reasonIds.get(write.reason)!;
    shape[index] = shapes[write.reason];
  }
  const params = [`{${[...placeOf.keys()].join(',')}}`, `{${startMs.join(',')}}`, `{${endMs.join(',')}}`, `{${reasonId.join(',')}}`, `{${shape.join(',')}}`];
  await rawQuery(
    em,
    `insert into work_request_eta_chunk (chunk, start_ms, end_ms, reason_id, shape)
     select u.chunk, w.start_ms[u.first : u.first + ${ESTIMATE_CHUNK - 1}], w.end_ms[u.first : u.first + ${ESTIMATE_CHUNK - 1}],
       w.reason_id[u.first : u.first + ${ESTIMATE_CHUNK - 1}], w.shape[u.first : u.first + ${ESTIMATE_CHUNK - 1}]
     from (select c.chunk, (c.place - 1) * ${ESTIMATE_CHUNK} + 1 as first from unnest(?::bigint[]) with ordinality as c(chunk, place)) u
     cross join (select ?::bigint[] as start_ms, ?::bigint[] as end_ms, ?::int[] as reason_id, ?::int[] as shape) w
     on conflict (chunk) do update set start_ms = excluded.start_ms, end_ms = excluded.end_ms, reason_id = excluded.reason_id, shape = excluded.shape`,
    params,
  );
}

/** The dictionary id (work_request_eta_reason) of each wording a write uses, by its index: new wordings are added. */
async function storeReasons(em: EntityManager, reasons: string[], writes: EstimateWrite[]): Promise<Map<number, number>> {
  const used = [...new Set(writes.map((write) => write.reason))];
  const wanted = [...new Set(used.map((index) => reasons[index]))];
  const rows = await rawQuery<{ id: number; reason: string }>(
    em,
    `with wanted as (select reason from json_array_elements_text(?::json) as r(reason)),
     added as (insert into work_request_eta_reason (reason) select reason from wanted on conflict (reason) do nothing returning id, reason)
     select id, reason from added
     union all select d.id, d.reason from work_request_eta_reason d join wanted w on w.reason = d.reason`,
    [JSON.stringify(wanted)],
  );
  const idOf = new Map(rows.map((row) => [row.reason, row.id]));
  return new Map(used.map((index) => [index, idOf.get(reasons[index])!]));
}
