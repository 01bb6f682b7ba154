import type { EntityManager } from '@mikro-orm/postgresql';
import type { HistoryKey } from '../history/historyKey';
import type { TaskKeyCounters } from './listTaskKeys';

/** Figures of a key's retained successful runs, in the history's units (ms, bytes); null where nothing was measured. */
export interface SuccessPercentiles {
  sampledRuns: number;
  durationMs: { p50: number | null; p95: number | null; max: number | null };
  cpuTimeMs: { p50: number | null; p95: number | null };
  memory: { p50: number | null; p95: number | null; max: number | null };
  diskSpace: { p95: number | null; max: number | null };
}

interface PercentileRow {
  task_name: string;
  subject: string;
  context: string;
  sampled_runs: string;
  duration_ms_p: Array<number | null> | null;
  duration_ms_max: string | null;
  cpu_time_ms_p: Array<number | null> | null;
  memory_p: Array<number | null> | null;
  memory_max: string | null;
  disk_space_p95: number | null;
  disk_space_max: string | null;
}

/**
 * percentile_cont (linear interpolation between the closest ranks; nulls ignored) over `task_history h`.
 * One array-valued percentile_cont per figure: one sort gives both p50 and p95.
 */
const PERCENTILE_COLUMNS = `count(*) as sampled_runs,
  percentile_cont(array[0.5, 0.95]) within group (order by h.duration_ms) as duration_ms_p,
  max(h.duration_ms) as duration_ms_max,
  percentile_cont(array[0.5, 0.95]) within group (order by h.cpu_time_ms) as cpu_time_ms_p,
  percentile_cont(array[0.5, 0.95]) within group (order by h.memory) as memory_p,
  max(h.memory) as memory_max,
  percentile_cont(0.95) within group (order by h.disk_space) as disk_space_p95,
  max(h.disk_space) as disk_space_max`;

/**
 * Percentiles of the successful runs of each of `keys` (one page of the listing, ≤ 500 keys), in one query per
 * half of the page: for each key (three parallel arrays, unnested), a lateral aggregate over its rows read through
 * task_history_success_figures_idx (index only: the key, then the figures). Each key is aggregated on its own,
 * so the page's rows are never sorted together (a grouped join sorted all of them by key first: 47,000 rows,
 * spilled to disk, 62 ms of a page over 10M history rows). The cost is the page's retained rows: at most the
 * retention (historyRetentionRuns + 2) per key. Keys without a successful run are absent from the map.
 */
export async function computeKeyPercentiles(em: EntityManager, keys: HistoryKey[]): Promise<Map<string, SuccessPercentiles>> {
  const byKey = new Map<string, SuccessPercentiles>();
  // A page of a few keys or more is read as two halves at once, on two connections: a page's latency is its
  // rows' aggregation (about 0.6 ms a key at 1,000 retained runs), which one backend does on one core.
  if (keys.length === 0) return byKey;
  const middle = Math.ceil(keys.length / 2);
  const parts = keys.length >= MIN_KEYS_TO_SPLIT ? [keys.slice(0, middle), keys.slice(middle)] : [keys];
  const answers = await Promise.all(parts.map((part) => readKeyPercentiles(em, part)));
  for (const row of answers.flat()) {
    byKey.set(percentileMapKey({ taskName: row.task_name, subject: row.subject, context: row.context }), toPercentiles(row));
  }
  return byKey;
}

/** Bumped when SuccessPercentiles or how it is computed changes: a cached value of another format is recomputed. */
const CACHE_FORMAT = 1;

/**
 * computeKeyPercentiles through task_key's cache: a key whose cached percentiles are of its current
 * figures_version (no successful run added or pruned since) is answered from the row listTaskKeys read; the
 * others are computed and stored back, each only if its version is still the one read (a run rolled up, or a
 * prune, in between leaves it stale). The version was read after the roll-up, and the runs it counts were
 * committed before it, so a value computed after it covers at least those runs: never newer than it claims.
 */
export async function cachedKeyPercentiles(em: EntityManager, keys: TaskKeyCounters[]): Promise<Map<string, SuccessPercentiles>> {
  const byKey = new Map<string, SuccessPercentiles>();
  const stale: TaskKeyCounters[] = [];
  for (const key of keys) {
    const cache = key.percentilesCache;
    const cached = cache && cache.version === cache.figuresVersion ? cachedValue(cache.value) : undefined;
    if (cached === undefined) stale.push(key);
    else if (cached !== null) byKey.set(percentileMapKey(key), cached);
  }
  if (stale.length === 0) return byKey;
  const computed = await computeKeyPercentiles(em, stale);
  for (const [mapKey, value] of computed) byKey.set(mapKey, value);
  const cacheable = stale.filter((key) => key.percentilesCache !== undefined);
  if (cacheable.length > 0) await storePercentiles(em, cacheable, computed);
  return byKey;
}

/**
 * The write-back of cachedKeyPercentiles, best effort: it never waits for a key row another transaction holds (a
 * roll-up, retention, the efficiency refresh) and skips it instead (SKIP LOCKED), so a read neither waits on
 * housekeeping nor takes part in a deadlock with it. A skipped key stays stale: the next read computes it again.
 * The version check is made on the locked row, so a change committed meanwhile is seen.
 */
async function storePercentiles(em: EntityManager, keys: TaskKeyCounters[], computed: Map<string, SuccessPercentiles>): Promise<void> {
  await em.execute(
    `with u as (
       select * from unnest(array[?]::text[], array[?]::text[], array[?]::text[], array[?]::int[], array[?]::jsonb[])
         as u(task_name, subject, context, version, percentiles)
     ), free as (
       select k.id, u.version, u.percentiles from task_key k
       join u on k.task_name = u.task_name and k.subject = u.subject and k.context = u.context and k.figures_version = u.version
       for update of k skip locked
     )
     update task_key k set percentiles = free.percentiles, percentiles_version = free.version from free where k.id = free.id`,
    [
      keys.map((key) => key.taskName),
      keys.map((key) => key.subject),
      keys.map((key) => key.context),
      keys.map((key) => key.percentilesCache!.figuresVersion),
      keys.map((key) => JSON.stringify({ format: CACHE_FORMAT, percentiles: computed.get(percentileMapKey(key)) ?? null })),
    ],
  );
}

/** A cached value: the percentiles, null for a key without retained successful runs, undefined if none or of another format. */
function cachedValue(value: unknown): SuccessPercentiles | null | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const entry = value as { format?: unknown; percentiles?: SuccessPercentiles | null };
  return entry.format === CACHE_FORMAT ? (entry.percentiles ?? null) : undefined;
}

/** Fewer keys than this are read in one query: a second connection and round trip (~0.2 ms) would cost more than half of one key. */
const MIN_KEYS_TO_SPLIT = 4;

function readKeyPercentiles(em: EntityManager, keys: HistoryKey[]): Promise<PercentileRow[]> {
  return em.execute<PercentileRow[]>(
    `select k.task_name, k.subject, k.context, p.*
     from unnest(array[?]::text[], array[?]::text[], array[?]::text[]) as k(task_name, subject, context)
     cross join lateral (
       select ${PERCENTILE_COLUMNS} from task_history h
       where h.task_name = k.task_name and h.subject = k.subject and h.context = k.context and h.result = 'success'
     ) p
     where p.sampled_runs > 0`,
    [keys.map((key) => key.taskName), keys.map((key) => key.subject), keys.map((key) => key.context)],
  );
}

/** Percentiles of the successful runs of a task across all its subjects and contexts (null: none retained). */
export async function computeTaskPercentiles(em: EntityManager, taskName: string): Promise<SuccessPercentiles | null> {
  const rows = await em.execute<PercentileRow[]>(
    `select ${PERCENTILE_COLUMNS} from task_history h where h.task_name = ? and h.result = 'success'`,
    [taskName],
  );
  const row = rows[0];
  return row && Number(row.sampled_runs) > 0 ? toPercentiles(row) : null;
}

export function percentileMapKey(key: HistoryKey): string {
  return JSON.stringify([key.taskName, key.subject, key.context]);
}

function toPercentiles(row: PercentileRow): SuccessPercentiles {
  return {
    sampledRuns: Number(row.sampled_runs),
    durationMs: { p50: pick(row.duration_ms_p, 0), p95: pick(row.duration_ms_p, 1), max: toNumber(row.duration_ms_max) },
    cpuTimeMs: { p50: pick(row.cpu_time_ms_p, 0), p95: pick(row.cpu_time_ms_p, 1) },
    memory: { p50: pick(row.memory_p, 0), p95: pick(row.memory_p, 1), max: toNumber(row.memory_max) },
    diskSpace: { p95: toNumber(row.disk_space_p95), max: toNumber(row.disk_space_max) },
  };
}

function pick(values: Array<number | string | null> | null, index: number): number | null {
  return toNumber(values?.[index] ?? null);
}

function toNumber(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}
