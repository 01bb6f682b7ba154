import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from './rawQuery';

/**
 * Estimates to store, one array per column; `reason[i]` indexes `reasons` and `shapes` (each wording once, with
 * the hash of its shape). Times in epoch ms, or null. `stored[i]`: the pass read a stored row for that request.
 */
export interface EstimateWrites {
  ids: number[];
  startMs: Array<number | null>;
  endMs: Array<number | null>;
  reason: number[];
  stored: boolean[];
  reasons: string[];
  shapes: number[];
}

export function emptyEstimateWrites(): EstimateWrites {
  return { ids: [], startMs: [], endMs: [], reason: [], stored: [], reasons: [], shapes: [] };
}

/**
 * The rows to write, as unnested typed arrays (each sent as one array literal: no bind-parameter limit, next to no
 * parsing). Times go as whole ms after computedAt (shorter to format and parse), NaN where none.
 */
const ROWS = `unnest(?::bigint[], ?::float8[], ?::float8[], ?::int[]) as u(id, start_ms, end_ms, reason)
  cross join (select ?::int[] as reason_ids, ?::int[] as shapes, ?::float8 as base_ms) w`;

/** An offset column as a time. */
const AT = (column: string) => `to_timestamp((w.base_ms + nullif(u.${column}, 'NaN')) / 1000)`;

/**
 * Stores estimates by request id: a plain insert for requests with no stored row and an update for the others.
 * Not one upsert: ON CONFLICT's speculative insertion and the existence check cost more than the insert itself
 * (100,000 rows: 590 ms of backend CPU against 230 ms). Sound because the pass is the only writer and holds its
 * advisory lock, so the rows it read are the rows there are; prune only deletes. A request deleted since it was
 * read leaves an orphan row, which pruneEstimates deletes and no reader sees (they all join from work_request).
 * `keepStart` (running requests) leaves a stored expected start as it was.
 */
export async function writeEstimates(em: EntityManager, writes: EstimateWrites, computedAt: Date, keepStart: boolean): Promise<void> {
  if (writes.ids.length === 0) return;
  const base = computedAt.getTime();
  const reasonIds = await storeReasons(em, writes);
  for (const stored of [false, true]) {
    const rows = indexesWhere(writes.stored, stored);
    if (rows.length === 0) continue;
    await rawQuery(
      em,
      stored
        ? `update work_request_eta e set ${keepStart ? '' : `expected_start_at = ${AT('start_ms')}, `}expected_end_at = ${AT('end_ms')},
             eta_reason = null, eta_reason_id = w.reason_ids[u.reason + 1], eta_shape = w.shapes[u.reason + 1], computed_at = ?::timestamptz
           from ${ROWS} where e.work_request_id = u.id`
        : `insert into work_request_eta (work_request_id, expected_start_at, expected_end_at, eta_reason_id, eta_shape, computed_at)
           select u.id, ${AT('start_ms')}, ${AT('end_ms')}, w.reason_ids[u.reason + 1], w.shapes[u.reason + 1], ?::timestamptz
           from ${ROWS}`,
      [
        computedAt,
        arrayLiteral(writes.ids, rows),
        arrayLiteral(writes.startMs, rows, base),
        arrayLiteral(writes.endMs, rows, base),
        arrayLiteral(writes.reason, rows),
        reasonIds,
        arrayLiteral(writes.shapes),
        base,
      ],
    );
  }
}

/**
 * The dictionary id of each wording (work_request_eta_reason), as an int[] literal indexed like `writes.reasons`
 * (0 for a wording no write uses): the ones new to the dictionary are added.
 */
async function storeReasons(em: EntityManager, writes: EstimateWrites): Promise<string> {
  const used = new Set(writes.reason);
  const wanted = [...new Set(writes.reasons.filter((_, index) => used.has(index)))];
  const rows = await rawQuery<{ id: number; reason: string }>(
    em,
    `with wanted as (select reason from json_array_elements_text(?::json) as r(reason)),
     added as (insert into work_request_eta_reason (reason) select reason from wanted on conflict (reason) do nothing returning id, reason)
     select id, reason from added
     union all select d.id, d.reason from work_request_eta_reason d join wanted w on w.reason = d.reason`,
    [JSON.stringify(wanted)],
  );
  const idOf = new Map(rows.map((row) => [row.reason, row.id]));
  return arrayLiteral(writes.reasons.map((reason) => idOf.get(reason) ?? 0));
}

function indexesWhere(flags: boolean[], value: boolean): number[] {
  const indexes: number[] = [];
  for (let index = 0; index < flags.length; index += 1) if (flags[index] === value) indexes.push(index);
  return indexes;
}

/**
 * `indexes`: which values, in that order (all when absent); `base` is taken from each. Rounded into a typed array
 * and joined natively (null as NaN): about half the time of formatting number by number.
 */
function arrayLiteral(values: Array<number | null>, indexes?: number[], base = 0): string {
  const count = indexes ? indexes.length : values.length;
  const numbers = new Float64Array(count);
  for (let position = 0; position < count; position += 1) {
    const value = values[indexes ? indexes[position] : position];
    numbers[position] = value === null ? Number.NaN : Math.round(value - base);
  }
  return `{${numbers.join(',')}}`;
}
