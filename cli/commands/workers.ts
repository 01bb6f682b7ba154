import type { Command } from 'commander';
import type { Worker } from '../../protocol/workerApi';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { formatAge, formatSize, printJson, truncate } from '../format';
import { renderTable, type Column } from '../table';

interface WorkersFlags extends ConnectionOptions {
  json?: boolean;
}

/** `workers` lists them; `workers disable NAME` / `workers enable NAME` (operator) take one out of service and back. */
export function registerWorkersCommand(program: Command): void {
  const workers = withConnectionOptions(
    program
      .command('workers')
      .description('list workers with their state, load and resources (needs an operator or admin token)')
      .option('--json', 'print JSON'),
  ).action(async (flags: WorkersFlags) => {
    const list = await connect(flags).listWorkers();
    if (flags.json) {
      printJson(list);
    } else if (list.length === 0) {
      process.stderr.write('no workers registered yet (start one with `worksched worker`)\n');
    } else {
      process.stdout.write(`${renderWorkers(list)}\n`);
    }
  });
  const verbs = [
    ['disable', 'disable a worker: its claims get nothing, and what it runs is requeued (or aborted) as for a lost worker'],
    ['enable', 'enable a disabled worker again'],
  ] as const;
  for (const [verb, description] of verbs) {
    withConnectionOptions(workers.command(verb).description(description).argument('<name>', 'the worker name (see `worksched workers`)')).action(
      async (name: string, _flags: ConnectionOptions, command: Command) => {
        // --server/--token may be given before or after the verb: the parent `workers` takes them too.
        const client = connect(command.optsWithGlobals<ConnectionOptions>());
        const worker = verb === 'disable' ? await client.disableWorker(name) : await client.enableWorker(name);
        process.stdout.write(`worker ${worker.name} is ${worker.state}\n`);
      },
    );
  }
}

const WORKER_COLUMNS: Column[] = [
  { head: 'id' },
  { head: 'name', shrinkTo: 10 },
  { head: 'state' },
  { head: 'running' },
  { head: 'cpus', dropRank: 3 },
  { head: 'memory' },
  { head: 'disk free', dropRank: 4 },
  { head: 'gpus', shrinkTo: 6, dropRank: 5 },
  { head: 'tags', shrinkTo: 6, dropRank: 6 },
  { head: 'last seen', dropRank: 2 },
];

function renderWorkers(workers: Worker[], now: Date = new Date()): string {
  const rows = workers.map((worker) => {
    const { resources } = worker;
    return [
      worker.id,
      truncate(worker.name, 40),
      worker.state,
      `${worker.running}/${worker.concurrency}`,
      resources.cpu_count,
      formatSize(resources.total_memory),
      formatSize(resources.available_disk_space),
      describeGpus(resources.gpus),
      truncate(worker.tags.join(','), 30),
      worker.last_seen_at ? formatAge(worker.last_seen_at, now) : 'never',
    ];
  });
  return renderTable(WORKER_COLUMNS, rows);
}

/** "-", "1 (A100)", "2 (A100, T4)". */
function describeGpus(gpus: Worker['resources']['gpus']): string {
  if (gpus.length === 0) return '-';
  const models = [...new Set(gpus.map((gpu) => gpu.model))];
  return `${gpus.length} (${truncate(models.join(', '), 30)})`;
}
