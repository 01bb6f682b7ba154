import type { EntityManager } from '@mikro-orm/postgresql';
import { flags, parseIntegers } from './aggregatedColumns';
import { rawQuery } from './rawQuery';

/**
 * The pending requests in claim order, one array per column (index i is the i-th request in claim order).
 * Numbers are typed arrays, NaN where the column is null: 100,000 boxed numbers per column were much of the
 * pass's garbage.
 */
export interface PendingColumns {
  count: number;
  ids: Float64Array;
  /** Epoch ms. */
  notBefore: Float64Array;
  needMemory: Float64Array;
  needDisk: Float64Array;
  needCpu: Float64Array;
  needGpu: Float64Array;
  /** Only requests that name tags, by id; the rest need none. */
  needTags: Map<number, string[]>;
  /** 1: no enabled worker can run it (unschedulable_reason is set). */
  unschedulable: Uint8Array;
  taskNames: string[];
  subjects: string[];
  contexts: string[];
}

const CLAIM_ORDER = `order by p.priority + p.priority_adjustment desc, p.created_at, p.id`;
/** A time as tenths of a second from the statement's now: short integers format and parse fastest. */
const tenths = (column: string) => `coalesce(round(date_part('epoch', ${column} - now()) * 10)::bigint::text, '')`;

/**
 * Everything the estimates pass needs of the pending requests, in one statement answering one row: each column
 * aggregated in claim order into one string (numbers comma-separated, flags one character each, texts as JSON
 * arrays). The driver parsing 100,000 rows of a dozen fields costs about a second; scanning a dozen long strings,
 * a few tens of ms. Their stored estimates are read apart (readStoredChunks).
 */
export async function readPendingForEstimates(em: EntityManager): Promise<PendingColumns> {
  const [row] = await rawQuery<Record<string, string | null>>(
    em,
    `select
       extract(epoch from now())::float8 * 1000 as now_ms,
       string_agg(p.id::text, ',' ${CLAIM_ORDER}) as ids,
       string_agg(${tenths('p.not_before')}, ',' ${CLAIM_ORDER}) as not_before,
       string_agg(coalesce(p.need_memory::text, ''), ',' ${CLAIM_ORDER}) as need_memory,
       string_agg(coalesce(p.need_disk::text, ''), ',' ${CLAIM_ORDER}) as need_disk,
       string_agg(coalesce(p.need_cpu::text, ''), ',' ${CLAIM_ORDER}) as need_cpu,
       string_agg(coalesce(p.need_gpu::text, ''), ',' ${CLAIM_ORDER}) as need_gpu,
       string_agg(case when p.unschedulable_reason is null then '0' else '1' end, '' ${CLAIM_ORDER}) as unschedulable,
       json_agg(p.task_name ${CLAIM_ORDER})::text as task_names,
       json_agg(coalesce(p.subject, '') ${CLAIM_ORDER})::text as subjects,
       json_agg(coalesce(p.context, '') ${CLAIM_ORDER})::text as contexts,
       (json_agg(json_build_array(p.id, p.need_tags)) filter (where p.need_tags <> '{}'))::text as need_tags
     from work_request p
     where p.status = 'pending'`,
  );
  const nowMs = Number(row?.now_ms ?? Date.now());
  const count = row?.unschedulable?.length ?? 0;
  const json = <T>(value: string | null | undefined, empty: T): T => (value ? (JSON.parse(value) as T) : empty);
  const tags = json<Array<[number, string[]]>>(row?.need_tags, []);
  const times = (column: string | null | undefined) => parseIntegers(column, count).map((value) => nowMs + value * 100);
  return {
    count,
    ids: parseIntegers(row?.ids, count),
    notBefore: times(row?.not_before),
    needMemory: parseIntegers(row?.need_memory, count),
    needDisk: parseIntegers(row?.need_disk, count),
    needCpu: parseIntegers(row?.need_cpu, count),
    needGpu: parseIntegers(row?.need_gpu, count),
    needTags: new Map(tags.map(([id, names]) => [Number(id), names])),
    unschedulable: flags(row?.unschedulable, count),
    taskNames: json<string[]>(row?.task_names, []),
    subjects: json<string[]>(row?.subjects, []),
    contexts: json<string[]>(row?.contexts, []),
  };
}
