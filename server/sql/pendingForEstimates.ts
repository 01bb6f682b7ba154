import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from './rawQuery';

/** The pending requests in claim order, one array per column (index i is the i-th request in claim order). */
export interface PendingColumns {
  ids: number[];
  /** Epoch ms, or null. */
  notBefore: Array<number | null>;
  needMemory: Array<number | null>;
  needDisk: Array<number | null>;
  needCpu: Array<number | null>;
  needGpu: Array<number | null>;
  /** Only requests that name tags, by id; the rest need none. */
  needTags: Map<number, string[]>;
  unschedulable: boolean[];
  taskNames: string[];
  subjects: string[];
  contexts: string[];
  /** The estimate stored by the last pass (epoch ms, to 0.1 s), and the shape of its wording; null where none. */
  storedStart: Array<number | null>;
  storedEnd: Array<number | null>;
  storedShape: Array<number | null>;
}

const CLAIM_ORDER = `order by p.priority + p.priority_adjustment desc, p.created_at, p.id`;
/** A time as tenths of a second from the statement's now: short integers format and parse fastest. */
const tenths = (column: string) => `coalesce(round(date_part('epoch', ${column} - now()) * 10)::bigint::text, '')`;

/**
 * Everything the estimates pass needs of the pending requests and their stored estimates, in one statement
 * answering one row: each column aggregated in claim order into one string (numbers comma-separated, texts as
 * JSON arrays). The driver parsing 100,000 rows of a dozen fields costs about a second; splitting a dozen long
 * strings, a few tens of ms. Stored times need only 0.1 s: what counts as a change is 1 s or more.
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
       string_agg(case when p.unschedulable_reason is null then '' else '1' end, ',' ${CLAIM_ORDER}) as unschedulable,
       json_agg(p.task_name ${CLAIM_ORDER})::text as task_names,
       json_agg(coalesce(p.subject, '') ${CLAIM_ORDER})::text as subjects,
       json_agg(coalesce(p.context, '') ${CLAIM_ORDER})::text as contexts,
       string_agg(${tenths('e.expected_start_at')}, ',' ${CLAIM_ORDER}) as stored_start,
       string_agg(${tenths('e.expected_end_at')}, ',' ${CLAIM_ORDER}) as stored_end,
       string_agg(coalesce(e.eta_shape::text, ''), ',' ${CLAIM_ORDER}) as stored_shape,
       (json_agg(json_build_array(p.id, p.need_tags)) filter (where p.need_tags <> '{}'))::text as need_tags
     from work_request p left join work_request_eta e on e.work_request_id = p.id
     where p.status = 'pending'`,
  );
  const nowMs = Number(row?.now_ms ?? Date.now());
  const json = <T>(value: string | null | undefined, empty: T): T => (value ? (JSON.parse(value) as T) : empty);
  const tags = json<Array<[number, string[]]>>(row?.need_tags, []);
  const times = (column: string | null | undefined) => numbers(column).map((value) => (value === null ? null : nowMs + value * 100));
  return {
    ids: numbers(row?.ids) as number[],
    notBefore: times(row?.not_before),
    needMemory: numbers(row?.need_memory),
    needDisk: numbers(row?.need_disk),
    needCpu: numbers(row?.need_cpu),
    needGpu: numbers(row?.need_gpu),
    needTags: new Map(tags.map(([id, names]) => [Number(id), names])),
    unschedulable: row?.unschedulable == null ? [] : row.unschedulable.split(',').map((value) => value === '1'),
    taskNames: json<string[]>(row?.task_names, []),
    subjects: json<string[]>(row?.subjects, []),
    contexts: json<string[]>(row?.contexts, []),
    storedStart: times(row?.stored_start),
    storedEnd: times(row?.stored_end),
    storedShape: numbers(row?.stored_shape),
  };
}

/** A comma-separated column: empty fields are nulls. */
function numbers(column: string | null | undefined): Array<number | null> {
  if (column === null || column === undefined) return [];
  const parts = column.split(',');
  const values = new Array<number | null>(parts.length);
  for (let index = 0; index < parts.length; index += 1) values[index] = parts[index] === '' ? null : Number(parts[index]);
  return values;
}
