import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequestEta } from '../../entities';

type StoredEstimate = Pick<WorkRequestEta, 'expectedStartAt' | 'expectedEndAt' | 'etaReason'>;

/** The stored estimates (expected start / end and why) of these requests, by id; requests without one are absent. */
export async function findEstimates(em: EntityManager, ids: number[]): Promise<Map<number, StoredEstimate>> {
  if (ids.length === 0) return new Map();
  // The wording is the row's own, or the dictionary's the estimates pass stored it by.
  const rows = await em.execute<Array<{ id: string; expected_start_at: Date | string | null; expected_end_at: Date | string | null; eta_reason: string | null }>>(
    `select e.work_request_id as id, e.expected_start_at, e.expected_end_at, coalesce(e.eta_reason, d.reason) as eta_reason
     from work_request_eta e left join work_request_eta_reason d on d.id = e.eta_reason_id
     where e.work_request_id in (?)`,
    [ids],
  );
  const date = (value: Date | string | null) => (value === null ? null : new Date(value));
  return new Map(
    rows.map((row) => [Number(row.id), { expectedStartAt: date(row.expected_start_at), expectedEndAt: date(row.expected_end_at), etaReason: row.eta_reason }]),
  );
}
