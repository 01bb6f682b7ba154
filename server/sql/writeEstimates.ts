import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from './rawQuery';

/**
 * Estimates to store, one array per column; `reason[i]` indexes `reasons` and `shapes` (each wording once, with
 * the hash of its shape). Times in epoch ms, or null.
 */
export interface EstimateWrites {
  ids: number[];
  startMs: Array<number | null>;
  endMs: Array<number | null>;
  reason: number[];
  reasons: string[];
  shapes: number[];
}

/**
 * Stores estimates by request id in one statement: typed arrays unnested (each sent as one array literal, so no
 * bind-parameter limit and next to no parsing), the wordings once each. `keepStart` (running requests) leaves a
 * stored expected start as it was. The join drops requests deleted since they were read.
 */
export async function writeEstimates(em: EntityManager, writes: EstimateWrites, computedAt: Date, keepStart: boolean): Promise<void> {
  if (writes.ids.length === 0) return;
  await rawQuery(
    em,
    `insert into work_request_eta (work_request_id, expected_start_at, expected_end_at, eta_reason, eta_shape, computed_at)
     select u.id, to_timestamp(u.start_ms / 1000), to_timestamp(u.end_ms / 1000), w.reasons[u.reason + 1], (?::int[])[u.reason + 1], ?::timestamptz
     from unnest(?::bigint[], ?::float8[], ?::float8[], ?::int[]) as u(id, start_ms, end_ms, reason)
     cross join (select array(select json_array_elements_text(?::json)) as reasons) w
     join work_request r on r.id = u.id
     on conflict (work_request_id) do update set
       ${keepStart ? '' : 'expected_start_at = excluded.expected_start_at, '}expected_end_at = excluded.expected_end_at,
       eta_reason = excluded.eta_reason, eta_shape = excluded.eta_shape, computed_at = excluded.computed_at`,
    [
      arrayLiteral(writes.shapes),
      computedAt,
      arrayLiteral(writes.ids),
      arrayLiteral(writes.startMs),
      arrayLiteral(writes.endMs),
      arrayLiteral(writes.reason),
      JSON.stringify(writes.reasons),
    ],
  );
}

function arrayLiteral(values: Array<number | null>): string {
  let text = '{';
  for (let index = 0; index < values.length; index += 1) {
    if (index > 0) text += ',';
    const value = values[index];
    text += value === null ? 'NULL' : String(value);
  }
  return `${text}}`;
}
