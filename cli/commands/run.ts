import type { Command } from 'commander';
import type { z } from 'zod';
import { budgetSchema } from '../../protocol/workflow';
import { workflowIdSchema } from '../../protocol/workRequest';
import { formatCost } from '../../common/formatCost';
import type { FeedProgress } from '../../client';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { loadGetTasks } from '../loadRunModule';
import { parseIntegerOption } from '../format';
import { StatusLine } from '../statusLine';

interface RunFlags extends ConnectionOptions {
  runId: string;
  inFlight: string;
  budget?: string;
  maxPrice?: string;
  onBudget?: string;
}

/**
 * `worksched run MODULE --run-id ID`: feeds a run from MODULE's getTasks(runId), N in flight, with a live
 * progress line. Ctrl-C stops feeding and lets running tasks finish; a second Ctrl-C cancels them. Killed and
 * started again with the same run id, it goes on without submitting anything twice (the server keeps task ids
 * unique in the run). Exit 0 when every task succeeded, 1 if any failed for good.
 */
export function registerRunCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('run')
      .description('feed a run from a JavaScript module exporting getTasks(runId), keeping N tasks in flight')
      .argument('<module>', 'CommonJS or ESM file exporting getTasks(runId): an (async) iterable of task specs with stable task_id')
      .requiredOption('--run-id <id>', 'the run (workflow) id: the same id again resumes feeding it')
      .option('--in-flight <n>', 'tasks submitted but unfinished at any time', '10')
      .option('--budget <x/h>', 'spend limit over a trailing window: "10/h" or "0.5/min"')
      .option('--max-price <cost>', 'max cost per result of a worker after its warm-up (its tasks stop)')
      .option('--on-budget <pause|stop>', 'over the budget: pause claims (default) or cancel the run'),
  ).action(async (modulePath: string, flags: RunFlags) => {
    const runId = parseOr(workflowIdSchema, flags.runId, '--run-id');
    const inFlight = parseIntegerOption(flags.inFlight, '--in-flight', { min: 1, max: 10_000 });
    const budget = flags.budget === undefined ? undefined : parseOr(budgetSchema, flags.budget, '--budget');
    const maxPrice = flags.maxPrice === undefined ? undefined : Number(flags.maxPrice);
    if (maxPrice !== undefined && !(Number.isFinite(maxPrice) && maxPrice > 0)) throw new CliUsageError(`--max-price must be a positive number, not ${flags.maxPrice}`);
    if (flags.onBudget !== undefined && flags.onBudget !== 'pause' && flags.onBudget !== 'stop') throw new CliUsageError(`--on-budget is pause or stop, not ${flags.onBudget}`);
    const getTasks = await loadGetTasks(modulePath);
    const client = connect(flags);
    const handle = client.feed(runId, getTasks(runId), {
      inFlight,
      budget,
      maxCostPerResult: maxPrice,
      onBudget: flags.onBudget,
    });
    const spend = { cost: 0, results: 0 };
    const refreshSpend = async () => {
      const [run, workers] = await Promise.all([client.getWorkflow(runId), client.getRunWorkers(runId)]);
      spend.cost = run.cost;
      spend.results = workers.workers.reduce((sum, row) => sum + row.results, 0);
    };
    const line = new StatusLine(() => progressLine(runId, handle.progress(), spend));
    const spendTimer = setInterval(() => void refreshSpend().catch(() => undefined), 1_000);
    spendTimer.unref();
    line.start();
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts === 1) {
        const text = 'stopping: no more tasks are fed; running ones finish (Ctrl-C again cancels them)\n';
        void line.printAbove(() => void process.stderr.write(text), text);
        handle.stop();
      } else {
        const text = 'cancelling the tasks in flight\n';
        void line.printAbove(() => void process.stderr.write(text), text);
        void handle.cancelInFlight();
      }
    };
    process.on('SIGINT', onSigint);
    let final: FeedProgress;
    try {
      final = await handle.done;
    } finally {
      process.off('SIGINT', onSigint);
      clearInterval(spendTimer);
      line.stop();
    }
    await refreshSpend().catch(() => undefined);
    process.stdout.write(`${progressLine(runId, final, spend)}${interrupts > 0 ? ' (stopped)' : ''}\n`);
    // Failed for good: seen by this process, or before it (a rerun after a kill), which the run's status tells.
    const run = await client.getWorkflow(runId);
    if (final.failed > 0 || run.status === 'FAILED' || run.status === 'RESUMABLE') process.exitCode = 1;
  });
}

function parseOr(schema: z.ZodType<string>, value: string, option: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CliUsageError(`${option}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** `run-1: done 12 (1 failed), running 3, queued 7, skipped 40, spend 0.0123, cost/result 0.001` */
export function progressLine(runId: string, progress: FeedProgress, spend: { cost: number; results: number }): string {
  const failed = progress.failed > 0 ? ` (${progress.failed} failed)` : '';
  const skipped = progress.skipped > 0 ? `, skipped ${progress.skipped} already submitted` : '';
  const perResult = spend.results > 0 ? formatCost(spend.cost / spend.results) : '-';
  return `${runId}: done ${progress.done}${failed}, running ${progress.running}, queued ${progress.queued}${skipped}, spend ${formatCost(spend.cost)}, cost/result ${perResult}`;
}
