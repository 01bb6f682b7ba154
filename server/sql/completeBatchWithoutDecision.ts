import type { OutputData } from '../../protocol/outputData';
import type { SqlStatement } from './statement';
import { ATTEMPT_COST, fromSource, historyFigures, historyOfCompletedAttempt, queueKeyIncrement, type HistoryFigures, type SourceExpression } from './taskHistory';

/** One `success` or `skipped` report of a batch, with its state reason and history figures worked out. */
export interface QuickReport {
  id: number;
  result: 'success' | 'skipped';
  output_data: OutputData;
  stateReason: string | null;
}

/** The input relation's columns: SQL types of the history figures (numeric: assignment to bigint rounds). */
const FIGURE_COLUMNS: { [K in keyof HistoryFigures]: string } = {
  errorCode: 'text',
  durationMs: 'numeric',
  cpuTimeMs: 'numeric',
  memory: 'numeric',
  diskSpace: 'numeric',
  availableMemory: 'numeric',
  availableDiskSpace: 'numeric',
  cpuCount: 'numeric',
  measurement: 'text',
};
const figureColumn = (field: string) => `fig_${field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)}`;

/**
 * The set-based hot path of batch completion: every report of `reports` whose request runs on this worker,
 * in one statement — the requests completed (one UPDATE over the reports as a relation), their history rows
 * and counter increments written (one INSERT each). No NOTIFY: the caller tells followers after the commit
 * (notifyWorkRequestsActivity). Answers the ids it completed (with what the metrics need); the others (repeat
 * reports, another worker's, unknown) are left for the caller's per-item path. `reports` must not repeat an id.
 */
export function completeBatchWithoutDecisionStatement(workerId: number, reports: QuickReport[]): SqlStatement {
  const ctes = completeBatchCtes(workerId, reports);
  return {
    text: `with ${ctes.text}
     select ${COMPLETED_COLUMNS} from done`,
    values: ctes.values,
  };
}

/** What the statement answers of each request it completed (CompletedRow), over CTE `done`. */
export const COMPLETED_COLUMNS = 'done.id, done.workflow_id, done.task_id, done.task_name, done.created_at, done.started_at, done.completed_at';

/**
 * completeBatchWithoutDecisionStatement's CTEs (`input`, `done` — the completed rows as they now are, with their
 * worker's figures — `recorded`, `counted`), for a statement that does more with `done`; its `?` values in order.
 */
export function completeBatchCtes(workerId: number, reports: QuickReport[]): SqlStatement {
  const { text, values } = (batchCtes ??= batchCtesText());
  return { text, values: [completeBatchInput(reports), workerId, ...values] };
}

const FIGURE_NAMES = Object.keys(FIGURE_COLUMNS) as Array<keyof HistoryFigures>;
const FIGURE_INPUT_COLUMNS = FIGURE_NAMES.map((name) => [name, figureColumn(name)] as const);

/** The reports as the JSON that completeBatchCtes's `input` reads (its first value). */
export function completeBatchInput(reports: QuickReport[]): string {
  const input = reports.map((report) => {
    const figures = historyFigures(report.output_data);
    const row: Record<string, unknown> = { id: report.id, result: report.result, output_data: report.output_data, state_reason: report.stateReason };
    for (const [name, column] of FIGURE_INPUT_COLUMNS) row[column] = figures[name];
    return row;
  });
  return JSON.stringify(input);
}

/** The CTEs' text (the same for every batch: built once) and its values after the input and the worker. */
let batchCtes: SqlStatement | undefined;

function batchCtesText(): SqlStatement {
  const inputColumns = [
    'id bigint',
    'result text',
    'output_data jsonb',
    'state_reason text',
    ...FIGURE_NAMES.map((name) => `${figureColumn(name)} ${FIGURE_COLUMNS[name]}`),
  ];
  const figuresFromSource = Object.fromEntries(FIGURE_NAMES.map((name) => [name, fromSource(figureColumn(name))]));
  const history = historyOfCompletedAttempt(figuresFromSource as { [K in keyof HistoryFigures]: SourceExpression });
  return {
    text: `input as (
       select * from jsonb_to_recordset(?::jsonb) as i(${inputColumns.join(', ')})
     ), done as (
       update work_request w
         -- Millisecond precision, like every other timestamp the API shows.
         set status = 'completed', result = i.result, output_data = i.output_data, completed_at = date_trunc('milliseconds', now()), state_reason = i.state_reason,
           cost = ${ATTEMPT_COST.replace('%duration', 'i.fig_duration_ms')}
         from input i, worker k
         where w.id = i.id and w.worker_id = ? and w.status = 'running' and k.id = w.worker_id
         returning w.*, k.name as worker_name, k.cpu_count as worker_cpu_count, k.total_memory as worker_total_memory,
           ${FIGURE_NAMES.map((name) => `i.${figureColumn(name)}`).join(', ')}
     ), recorded as (
       ${history.text}
     ), counted as (
       ${queueKeyIncrement('recorded')}
     )`,
    values: history.values,
  };
}
