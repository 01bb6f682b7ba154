import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskStatisticsQuery } from '../../protocol/statistics';
import { cursorRejectedByDatabase, decodeTaskKeyCursor, encodeTaskKeyCursor } from './taskKeyCursor';
import { TASK_KEY_ORDERS, afterCursorCondition, cursorValueColumns, orderByClause } from './taskKeyOrder';

/** A history key's all-time counters, as task_key keeps them ('' = no subject / context). */
export interface TaskKeyCounters {
  taskName: string;
  subject: string;
  context: string;
  runs: number;
  successes: number;
  failures: number;
  /** Summed cost of its runs (worker cost_per_hour × duration). */
  cost: number;
  lastRunAt: Date | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  efficiency: KeyEfficiency | null;
  /** task_key's cache of the key's percentiles (listTaskKeys only): its version, and the one it was computed at. */
  percentilesCache?: { figuresVersion: number; version: number | null; value: unknown };
}

/** task_key's efficiency columns (refreshKeyEfficiency), as stored. */
export interface KeyEfficiency {
  runs: number;
  askedMemory: number | null;
  usedMemoryP95: number | null;
  suggestedMemory: number | null;
  memoryWaste: number | null;
  askedCpu: number | null;
  usedCpuP95: number | null;
  suggestedCpu: number | null;
  cpuWaste: number | null;
  computedAt: Date;
}

interface TaskKeyRow {
  task_name: string;
  subject: string;
  context: string;
  runs: number;
  successes: number;
  failures: number;
  cost: number;
  last_run_at: Date | string | null;
  last_success_at: Date | string | null;
  last_failure_at: Date | string | null;
  efficiency_runs?: number;
  asked_memory?: string | null;
  used_memory_p95?: number | null;
  suggested_memory?: string | null;
  memory_waste?: number | null;
  asked_cpu?: number | null;
  used_cpu_p95?: number | null;
  suggested_cpu?: number | null;
  cpu_waste?: number | null;
  efficiency_at?: Date | string | null;
  figures_version?: number;
  percentiles_version?: number | null;
  percentiles?: unknown;
  [cursorColumn: `cursor_${number}`]: string;
}

/**
 * One page of history keys, filtered and sorted on task_key alone (one row per key, counters kept on every
 * insert), so the cost depends on the page size and not on the history's. Keyset pagination: see taskKeyCursor.
 */
export async function listTaskKeys(
  em: EntityManager,
  query: Pick<TaskStatisticsQuery, 'task_name' | 'task_name_prefix' | 'subject' | 'context' | 'min_runs' | 'sort' | 'limit' | 'cursor'>,
): Promise<{ keys: TaskKeyCounters[]; nextCursor: string | null }> {
  const order = TASK_KEY_ORDERS[query.sort];
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (query.task_name !== undefined) {
    conditions.push('k.task_name = ?');
    params.push(query.task_name);
  }
  if (query.task_name_prefix !== undefined) {
    // LIKE with a constant prefix uses task_key_task_name_pattern_idx whatever the database's collation.
    conditions.push('k.task_name like ?');
    params.push(`${escapeLike(query.task_name_prefix)}%`);
  }
  if (query.subject !== undefined) {
    conditions.push('k.subject = ?');
    params.push(query.subject);
  }
  if (query.context !== undefined) {
    conditions.push('k.context = ?');
    params.push(query.context);
  }
  if (query.min_runs !== undefined) {
    conditions.push('k.runs >= ?');
    params.push(query.min_runs);
  }
  if (query.cursor !== undefined) {
    conditions.push(afterCursorCondition(order));
    params.push(...decodeTaskKeyCursor(query.cursor, query.sort, query, order.types));
  }
  let rows: TaskKeyRow[];
  try {
    rows = await em.execute<TaskKeyRow[]>(
      `select k.task_name, k.subject, k.context, k.runs, k.successes, k.failures, k.cost,
         k.last_run_at, k.last_success_at, k.last_failure_at,
         k.efficiency_runs, k.asked_memory, k.used_memory_p95, k.suggested_memory, k.memory_waste,
         k.asked_cpu, k.used_cpu_p95, k.suggested_cpu, k.cpu_waste, k.efficiency_at,
         k.figures_version, k.percentiles_version, k.percentiles, ${cursorValueColumns(order)}
       from task_key k
       ${conditions.length > 0 ? `where ${conditions.join(' and ')}` : ''}
       order by ${orderByClause(order)}
       limit ?`,
      [...params, query.limit + 1],
    );
  } catch (error) {
    // Only the cursor's values go through a cast: a value PostgreSQL cannot take is the client's mistake.
    throw (query.cursor !== undefined && cursorRejectedByDatabase(error)) || error;
  }
  const hasMore = rows.length > query.limit;
  const page = hasMore ? rows.slice(0, query.limit) : rows;
  const last = page[page.length - 1];
  const nextCursor = hasMore
    ? encodeTaskKeyCursor(query.sort, query, order.columns.map((_, index) => last[`cursor_${index}`]))
    : null;
  return { keys: page.map(toCounters), nextCursor };
}

/** All-time counters of a task across its subjects and contexts, or null when it has no history. */
export async function sumTaskCounters(em: EntityManager, taskName: string): Promise<TaskKeyCounters | null> {
  const rows = await em.execute<Array<Omit<TaskKeyRow, 'runs' | 'successes' | 'failures'> & { keys: string; runs: string; successes: string; failures: string }>>(
    `select ? as task_name, '' as subject, '' as context, count(*) as keys,
       coalesce(sum(k.runs), 0) as runs, coalesce(sum(k.successes), 0) as successes, coalesce(sum(k.failures), 0) as failures, coalesce(sum(k.cost), 0) as cost,
       max(k.last_run_at) as last_run_at, max(k.last_success_at) as last_success_at, max(k.last_failure_at) as last_failure_at
     from task_key k where k.task_name = ?`,
    [taskName, taskName],
  );
  const row = rows[0];
  if (!row || Number(row.keys) === 0) return null;
  return toCounters({ ...row, runs: Number(row.runs), successes: Number(row.successes), failures: Number(row.failures) });
}

function toCounters(row: Omit<TaskKeyRow, `cursor_${number}`>): TaskKeyCounters {
  return {
    taskName: row.task_name,
    subject: row.subject,
    context: row.context,
    runs: Number(row.runs),
    successes: Number(row.successes),
    failures: Number(row.failures),
    cost: Number(row.cost),
    lastRunAt: toDate(row.last_run_at),
    lastSuccessAt: toDate(row.last_success_at),
    lastFailureAt: toDate(row.last_failure_at),
    efficiency: toEfficiency(row),
    ...(row.figures_version === undefined
      ? {}
      : { percentilesCache: { figuresVersion: Number(row.figures_version), version: numberOrNull(row.percentiles_version), value: row.percentiles ?? null } }),
  };
}

const numberOrNull = (value: number | string | null | undefined): number | null => (value === null || value === undefined ? null : Number(value));

function toEfficiency(row: Omit<TaskKeyRow, `cursor_${number}`>): KeyEfficiency | null {
  if (!row.efficiency_at || !row.efficiency_runs || (row.asked_memory == null && row.asked_cpu == null)) return null;
  return {
    runs: Number(row.efficiency_runs),
    askedMemory: numberOrNull(row.asked_memory),
    usedMemoryP95: numberOrNull(row.used_memory_p95),
    suggestedMemory: numberOrNull(row.suggested_memory),
    memoryWaste: numberOrNull(row.memory_waste),
    askedCpu: numberOrNull(row.asked_cpu),
    usedCpuP95: numberOrNull(row.used_cpu_p95),
    suggestedCpu: numberOrNull(row.suggested_cpu),
    cpuWaste: numberOrNull(row.cpu_waste),
    computedAt: new Date(row.efficiency_at),
  };
}

function toDate(value: Date | string | null): Date | null {
  return value === null ? null : new Date(value);
}

/** A LIKE pattern that matches `text` literally (backslash is LIKE's default escape). */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}
