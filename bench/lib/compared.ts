/**
 * The figures worksched is compared on with pg-boss and graphile-worker (issue 9's table), the workload they share,
 * and the targets. Scenarios put their value of a figure in `ScenarioReport.figures`; run.ts builds the table.
 */

/** Jobs (work requests) per drain and per batch enqueue, for all three; BENCH_PEERS_N for quick runs. */
export const COMPARED_N = positiveIntegerFromEnv('BENCH_PEERS_N', 20_000);
/** Jobs in flight during a drain. */
export const COMPARED_CONCURRENCY = 32;
/** Batch size of a batch enqueue (pg-boss `insert()`, graphile-worker `addJobs`, worksched's batch route). */
export const COMPARED_BATCH = 1_000;
/** One-at-a-time creates, one after another. */
export const COMPARED_SEQUENTIAL = positiveIntegerFromEnv('BENCH_PEERS_SEQUENTIAL', 1_000);
/**
 * Untimed one-at-a-time creates before those, for all three, so that each is measured at its steady rate (a server
 * runs for days): a fresh worksched server's rate climbed over its first 5,000 creates (JIT), measured 225/s over
 * the first 1,000, 480/s over the fourth and 520–570/s from the fifth on.
 */
export const COMPARED_SEQUENTIAL_WARMUP = 5_000;
/** Rounds of COMPARED_SEQUENTIAL one-at-a-time creates, worksched's and the peers' alternating (scenario 8). */
export const COMPARED_SEQUENTIAL_ROUNDS = 3;
/** Enqueue→start latency: warm-up and measured jobs, one at a time, 5–20 ms apart, workers idle. */
export const COMPARED_LATENCY_WARMUP = 30;
export const COMPARED_LATENCY_MEASURED = positiveIntegerFromEnv('BENCH_PEERS_LATENCY_N', 500);

export type ComparedFigure =
  | 'drainPerS'
  | 'batchCreatePerS'
  | 'sequentialCreatePerS'
  | 'latencyP50Ms'
  | 'agentTasksPerS'
  | 'agentOverheadP50Ms';

export type Figures = Partial<Record<ComparedFigure, number>>;

export interface FigureDefinition {
  key: ComparedFigure;
  label: string;
  /** How worksched's value is measured, when the label alone does not say. */
  ours?: string;
  /** Which way is better: a rate (higher) or a latency (lower). */
  unit: 'per_s' | 'ms';
  /** Issue 9's target, as text, and whether worksched's ratios meet it (undefined: no peer ratio decides it). */
  target: string;
  met?: (ratios: { pgBoss?: number; graphile?: number }, ours: number) => boolean | undefined;
}

export const FIGURES: readonly FigureDefinition[] = [
  {
    key: 'drainPerS',
    label: `drain, ${COMPARED_N.toLocaleString('en-US')} no-ops, ${COMPARED_CONCURRENCY} in flight`,
    ours: 'scenario 1 variant G: through HTTP, 1 simulated worker × 32 slots (as pg-boss runs, 1 × batch 32), each claim {max 32} carrying the previous claim\'s results (variant A, the two-call protocol, is reported in scenario 1)',
    unit: 'per_s',
    target: '≥ 1.0× pg-boss, ≥ 0.25× graphile tuned',
    met: (r) => (r.pgBoss === undefined || r.graphile === undefined ? undefined : r.pgBoss >= 1 && r.graphile >= 0.25),
  },
  {
    key: 'batchCreatePerS',
    label: `batch create, batches of ${COMPARED_BATCH.toLocaleString('en-US')}`,
    ours: 'scenario 1: POST /api/v1/work-requests/batch, one call after another',
    unit: 'per_s',
    target: '≥ 0.5× pg-boss insert()',
    met: (r) => (r.pgBoss === undefined ? undefined : r.pgBoss >= 0.5),
  },
  {
    key: 'sequentialCreatePerS',
    label: 'one-at-a-time create, sequential',
    ours: `scenario 8: POST /api/v1/work-requests, each awaited before the next, in ${COMPARED_SEQUENTIAL_ROUNDS} rounds of ${COMPARED_SEQUENTIAL.toLocaleString('en-US')} alternating with the peers' (scenario 1 prints its own figure, measured alone)`,
    unit: 'per_s',
    target: '≥ 1.0× pg-boss send()',
    met: (r) => (r.pgBoss === undefined ? undefined : r.pgBoss >= 1),
  },
  {
    key: 'latencyP50Ms',
    label: 'enqueue→start p50, idle workers',
    ours: 'scenario 2: create → claim answer, 32 workers × 1 long-polling (wait_s 30), 5–20 ms between creates',
    unit: 'ms',
    target: '≤ 1.0× pg-boss with notify',
    met: (r) => (r.pgBoss === undefined ? undefined : r.pgBoss <= 1),
  },
  {
    key: 'agentTasksPerS',
    label: 'the real agent, --concurrency 32, /bin/true tasks: tasks/s',
    ours: 'scenario 7 (no peer figure)',
    unit: 'per_s',
    target: '≥ 2× today’s tasks/s',
  },
  {
    key: 'agentOverheadP50Ms',
    label: '  the same: per-task overhead p50',
    unit: 'ms',
    target: '≤ 10 ms',
    met: (_r, ours) => ours <= 10,
  },
];

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
