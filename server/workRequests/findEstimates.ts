import type { EntityManager } from '@mikro-orm/postgresql';
import { joinStoredEstimate } from '../sql/estimateChunks';

/** A request's stored estimate, as the estimates pass left it. */
export interface StoredEstimate {
  expectedStartAt: Date | null;
  expectedEndAt: Date | null;
  etaReason: string | null;
}

/** The stored estimates (expected start / end and why) of these requests, by id; requests without one are absent. */
export async function findEstimates(em: EntityManager, ids: number[]): Promise<Map<number, StoredEstimate>> {
  if (ids.length === 0) return new Map();
  const rows = await em.execute<Array<{ id: string; expected_start_at: Date | string | null; expected_end_at: Date | string | null; eta_reason: string | null }>>(
    `select r.id, e.expected_start_at, e.expected_end_at, e.eta_reason
     from unnest(?::bigint[]) as r(id) ${joinStoredEstimate('r.id', 'e', 'inner')}`,
    [`{${ids.join(',')}}`],
  );
  const date = (value: Date | string | null) => (value === null ? null : new Date(value));
  return new Map(
    rows.map((row) => [Number(row.id), { expectedStartAt: date(row.expected_start_at), expectedEndAt: date(row.expected_end_at), etaReason: row.eta_reason }]),
  );
}
