import type { TaskStatisticsSort } from '../../protocol/statistics';

/** How one `sort` value pages over task_key: the ORDER BY columns, all in one direction, and their SQL types. */
export interface TaskKeyOrder {
  /** SQL expressions over `task_key k`; together they identify a row (the last is a unique tiebreaker). */
  columns: string[];
  /** Casts for the cursor's values, one per column. */
  types: string[];
  direction: 'asc' | 'desc';
}

/**
 * Each expression matches an index of Migration20261121020000_statistics_indexes or
 * Migration20261202050000_eta_efficiency_preemption (or the key's unique
 * constraint for `task_name`) character for character, so PostgreSQL reads the page straight off the index and
 * the keyset condition `(columns) > (cursor values)` is an index bound. One direction per order means the row
 * comparison works as is; `id` breaks ties (it never changes for a key).
 */
const SUCCESS_RATE = '(k.successes::float8 / greatest(k.runs, 1))';
const LAST_RUN = `coalesce(k.last_run_at, '-infinity'::timestamptz)`;
// Keys without an efficiency (no explicit requests) sort after every key that has one.
const MEMORY_WASTE = 'coalesce(k.memory_waste, -1)';
const CPU_WASTE = 'coalesce(k.cpu_waste, -1)';

export const TASK_KEY_ORDERS: Record<TaskStatisticsSort, TaskKeyOrder> = {
  task_name: { columns: ['k.task_name', 'k.subject', 'k.context'], types: ['text', 'text', 'text'], direction: 'asc' },
  '-runs': { columns: ['k.runs', 'k.id'], types: ['int', 'bigint'], direction: 'desc' },
  runs: { columns: ['k.runs', 'k.id'], types: ['int', 'bigint'], direction: 'asc' },
  '-failures': { columns: ['k.failures', 'k.id'], types: ['int', 'bigint'], direction: 'desc' },
  '-success_rate': { columns: [SUCCESS_RATE, 'k.id'], types: ['float8', 'bigint'], direction: 'desc' },
  success_rate: { columns: [SUCCESS_RATE, 'k.id'], types: ['float8', 'bigint'], direction: 'asc' },
  '-last_run_at': { columns: [LAST_RUN, 'k.id'], types: ['timestamptz', 'bigint'], direction: 'desc' },
  '-memory_waste': { columns: [MEMORY_WASTE, 'k.id'], types: ['float8', 'bigint'], direction: 'desc' },
  '-cpu_waste': { columns: [CPU_WASTE, 'k.id'], types: ['float8', 'bigint'], direction: 'desc' },
};

/** `order by …` for the order. */
export function orderByClause(order: TaskKeyOrder): string {
  return order.columns.map((column) => `${column} ${order.direction}`).join(', ');
}

/** The keyset condition "after the row whose sort values are the cursor's": `(cols) > (?::type, …)`. */
export function afterCursorCondition(order: TaskKeyOrder): string {
  const placeholders = order.types.map((type) => `?::${type}`).join(', ');
  return `(${order.columns.join(', ')}) ${order.direction === 'asc' ? '>' : '<'} (${placeholders})`;
}

/** `select` items that give the row's sort values as text (exact: float8 and timestamptz text round-trip). */
export function cursorValueColumns(order: TaskKeyOrder): string {
  return order.columns.map((column, index) => `(${column})::text as cursor_${index}`).join(', ');
}
