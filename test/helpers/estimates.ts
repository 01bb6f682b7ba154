/** Stored estimates (work_request_eta_chunk) as tests write and read them, request by request. */
import { ESTIMATE_CHUNK, NONE } from '../../server/sql/estimateChunks';
import type { TestServer } from './server';

/** Stores these estimates as the estimates pass would (its own tests cover how it computes them). */
export async function storeEstimates(server: TestServer, estimates: Array<{ id: number; start: Date | null; end: Date | null; reason: string }>): Promise<void> {
  for (const estimate of estimates) {
    const [reason] = await server.sql<{ id: number }>(
      `insert into work_request_eta_reason (reason) values ($1) on conflict (reason) do update set reason = excluded.reason returning id`,
      [estimate.reason],
    );
    const chunk = Math.floor(estimate.id / ESTIMATE_CHUNK);
    const slot = (estimate.id % ESTIMATE_CHUNK) + 1;
    await server.sql(
      `insert into work_request_eta_chunk (chunk, start_ms, end_ms, reason_id, shape)
       values ($1, array_fill(${NONE}::bigint, array[${ESTIMATE_CHUNK}]), array_fill(${NONE}::bigint, array[${ESTIMATE_CHUNK}]),
         array_fill(${NONE}, array[${ESTIMATE_CHUNK}]), array_fill(${NONE}, array[${ESTIMATE_CHUNK}]))
       on conflict (chunk) do nothing`,
      [chunk],
    );
    await server.sql(
      `update work_request_eta_chunk set start_ms[$2] = $3, end_ms[$2] = $4, reason_id[$2] = $5, shape[$2] = 0 where chunk = $1`,
      [chunk, slot, estimate.start?.getTime() ?? NONE, estimate.end?.getTime() ?? NONE, reason.id],
    );
  }
}

/** The ids of the requests that have a stored estimate, in order. */
export async function storedEstimateIds(server: TestServer): Promise<number[]> {
  const rows = await server.sql<{ id: string }>(
    `select c.chunk * ${ESTIMATE_CHUNK} + s.slot - 1 as id from work_request_eta_chunk c
     cross join lateral generate_subscripts(c.reason_id, 1) s(slot) where c.reason_id[s.slot] <> ${NONE} order by 1`,
  );
  return rows.map((row) => Number(row.id));
}
