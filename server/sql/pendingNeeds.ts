import type { SqlStatement } from './statement';

/** work_request_pending_needs_idx's columns, in its order (nulls as -1 and ''). */
const NEEDS = `coalesce(need_memory, -1), coalesce(need_disk, -1), coalesce(need_cpu, -1), coalesce(need_gpu, -1), need_tags, coalesce(unschedulable_reason, '')`;

/** One distinct set of needs of pending requests (with its stored reason) as pendingNeedsStatement answers it. */
export interface PendingNeedsRow {
  need_memory: string;
  need_disk: string;
  need_cpu: number;
  need_gpu: number;
  need_tags: string[];
  reason: string;
}

/**
 * The distinct (needs, unschedulable reason) sets of pending requests, at most `limit`: a skip scan of
 * work_request_pending_needs_idx (each step one index descent to the next larger set), so the cost grows with
 * the number of sets, not of pending rows. Nulls come back as -1 and ''.
 */
export function pendingNeedsStatement(limit: number): SqlStatement {
  return {
    text: `with recursive found (memory, disk, cpu, gpu, tags, reason) as (
       (select ${NEEDS} from work_request where status = 'pending' order by ${NEEDS} limit 1)
       union all
       select next.* from found f, lateral (
         select ${NEEDS} from work_request
         where status = 'pending' and (${NEEDS}) > (f.memory, f.disk, f.cpu, f.gpu, f.tags, f.reason)
         order by ${NEEDS} limit 1
       ) next
     )
     select memory as need_memory, disk as need_disk, cpu as need_cpu, gpu as need_gpu, tags as need_tags, reason
     from found limit ?`,
    values: [limit],
  };
}

/** Sets `reason` on the pending requests of one set `group` (as pendingNeedsStatement answered it) that no other transaction holds; returns their ids. */
export function setUnschedulableReasonStatement(group: PendingNeedsRow, reason: string | null): SqlStatement {
  return {
    text: `update work_request set unschedulable_reason = ?
       where id in (select id from work_request
         where status = 'pending' and (${NEEDS}) = (?::bigint, ?::bigint, ?::int, ?::int, array[?]::text[], ?::text)
         for update skip locked)
       returning id`,
    values: [reason, group.need_memory, group.need_disk, group.need_cpu, group.need_gpu, group.need_tags, group.reason],
  };
}
