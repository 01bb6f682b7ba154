import fs from 'node:fs';
import type { Command } from 'commander';
import type { WorkschedClient } from '../../client/WorkschedClient';
import { WORKFLOW_STATUSES, type Workflow, type WorkflowEta, type WorkflowStatus, type WorkflowWithTasks } from '../../protocol/workflow';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { formatAge, formatRunTime, formatUntil, printJson, truncate } from '../format';
import { renderTable, type Column } from '../table';
import { renderDependencyTree } from '../workflowTree';

interface JsonFlags extends ConnectionOptions {
  json?: boolean;
}

/** `worksched workflow …`: submit a workflow from a JSON file, watch it, cancel, resume and delete it. */
export function registerWorkflowCommand(program: Command): void {
  const workflow = program.command('workflow').description('workflows: graphs of tasks with dependencies (submit, list, show, metadata, output, cancel, resume, delete, resume-all)');

  withConnectionOptions(
    workflow
      .command('submit')
      .description('create a workflow from a JSON file ({"tasks": [{"task_id", "depends_on", ...task spec}], ...}; - for stdin)')
      .argument('<file>', 'the workflow JSON')
      .option('--id <id>', 'the workflow_id (overrides the file; the same id and file again is answered with the existing workflow)')
      .option('--wait', 'wait until it ends; exit 1 unless it is SUCCESSFUL')
      .option('--json', 'print JSON'),
  ).action(async (file: string, flags: JsonFlags & { id?: string; wait?: boolean }) => {
    const body = readWorkflowFile(file);
    if (flags.id) body.workflow_id = flags.id;
    const client = connect(flags);
    const created = await client.createWorkflow(body);
    if (flags.json && !flags.wait) return printJson(created);
    process.stdout.write(`workflow ${created.workflow_id}: ${created.status} (${created.tasks.length} tasks)\n`);
    if (!flags.wait) return;
    const ended = await client.waitForWorkflow(created.workflow_id);
    if (flags.json) printJson(ended);
    else process.stdout.write(`workflow ${ended.workflow_id}: ${ended.status}${ended.status_reason ? ` (${ended.status_reason})` : ''}\n`);
    if (ended.status !== 'SUCCESSFUL') process.exitCode = 1;
  });

  withConnectionOptions(
    workflow
      .command('list')
      .description('workflows, newest first')
      .option('--status <statuses>', `only these statuses, comma-separated (${WORKFLOW_STATUSES.join(', ')})`)
      .option('--limit <n>', 'at most this many', '50')
      .option('--json', 'print JSON'),
  ).action(async (flags: JsonFlags & { status?: string; limit: string }) => {
    const statuses = flags.status ? parseStatuses(flags.status) : undefined;
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new CliUsageError(`--limit must be an integer from 1 to 500, not ${flags.limit}`);
    const page = await connect(flags).listWorkflows({ status: statuses, limit });
    if (flags.json) return printJson(page.workflows);
    if (page.workflows.length === 0) {
      process.stderr.write('no workflows\n');
      return;
    }
    process.stdout.write(`${renderWorkflows(page.workflows)}\n`);
  });

  withConnectionOptions(
    workflow.command('show').description('a workflow: its tasks (status, dependencies, worker, duration, result) and the dependency tree').argument('<id>', 'workflow_id').option('--json', 'print JSON'),
  ).action(async (id: string, flags: JsonFlags) => {
    const shown = await connect(flags).getWorkflow(id, { tasks: true });
    if (flags.json) return printJson(shown);
    process.stdout.write(`${renderWorkflowDetail(shown)}\n`);
  });

  withConnectionOptions(
    workflow.command('metadata').description("Ray-style metadata of a workflow, or of one task (--task)").argument('<id>', 'workflow_id').option('--task <task_id>', 'a task of it'),
  ).action(async (id: string, flags: ConnectionOptions & { task?: string }) => {
    const client = connect(flags);
    printJson(flags.task === undefined ? await client.getWorkflowMetadata(id) : await client.getWorkflowMetadata(id, flags.task));
  });

  withConnectionOptions(
    workflow.command('output').description('the results of the tasks nothing depends on, or of one task (--task)').argument('<id>', 'workflow_id').option('--task <task_id>', 'a task of it'),
  ).action(async (id: string, flags: ConnectionOptions & { task?: string }) => {
    const output = await connect(flags).getWorkflowOutput(id, flags.task);
    printJson(flags.task === undefined ? output.results : (output.result ?? null));
  });

  const simple = (name: string, description: string, run: (client: WorkschedClient, id: string) => Promise<Workflow | void>) =>
    withConnectionOptions(workflow.command(name).description(description).argument('<id>', 'workflow_id')).action(async (id: string, flags: ConnectionOptions) => {
      const after = await run(connect(flags), id);
      process.stdout.write(after ? `workflow ${after.workflow_id}: ${after.status}\n` : `deleted workflow ${id}\n`);
    });
  simple('cancel', 'cancel: blocked and pending tasks aborted, running ones killed; CANCELED (cannot be resumed)', (client, id) => client.cancelWorkflow(id));
  simple('resume', 're-run the failed, aborted and skipped tasks of a FAILED or RESUMABLE workflow', (client, id) => client.resumeWorkflow(id));
  simple('delete', 'delete an ended workflow and its work requests', (client, id) => client.deleteWorkflow(id));

  withConnectionOptions(
    workflow.command('resume-all').description('resume every RESUMABLE workflow').option('--include-failed', 'FAILED ones too').option('--json', 'print JSON'),
  ).action(async (flags: JsonFlags & { includeFailed?: boolean }) => {
    const resumed = await connect(flags).resumeAllWorkflows({ includeFailed: flags.includeFailed ?? false });
    if (flags.json) return printJson(resumed);
    if (resumed.length === 0) process.stdout.write('nothing to resume\n');
    for (const item of resumed) process.stdout.write(`resumed ${item.workflow_id}: ${item.status}\n`);
  });
}

function readWorkflowFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read workflow ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`workflow ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliUsageError(`workflow ${file} must be a JSON object like {"tasks": [{"task_id": "build", "task_name": "build", "execution": {...}}]}`);
  }
  return value as Record<string, unknown>;
}

function parseStatuses(text: string): WorkflowStatus[] {
  const statuses = text.split(',').map((part) => part.trim().toUpperCase()).filter(Boolean);
  for (const status of statuses) {
    if (!(WORKFLOW_STATUSES as readonly string[]).includes(status)) throw new CliUsageError(`unknown status "${status}": use ${WORKFLOW_STATUSES.join(', ')}`);
  }
  return statuses as WorkflowStatus[];
}

const LIST_COLUMNS: Column[] = [
  { head: 'workflow_id', shrinkTo: 12 },
  { head: 'status' },
  { head: 'tasks' },
  { head: 'done' },
  { head: 'running' },
  { head: 'created', dropRank: 1 },
  { head: 'expected end', dropRank: 3 },
  { head: 'reason', shrinkTo: 10, dropRank: 2 },
];

/** A workflow's expected end as a list cell: "in 5m00s", or "-" when the estimates pass has none. */
function expectedEnd(workflow: WorkflowEta, now: Date): string {
  return workflow.expected_end_at ? formatUntil(workflow.expected_end_at, now) : '-';
}

export function renderWorkflows(workflows: Array<Workflow & WorkflowEta>, now: Date = new Date()): string {
  return renderTable(
    LIST_COLUMNS,
    workflows.map((item) => [
      item.workflow_id,
      item.status,
      item.task_counts.total,
      item.task_counts.completed + item.task_counts.aborted,
      item.task_counts.running,
      formatAge(item.created_at, now),
      expectedEnd(item, now),
      truncate(item.status_reason ?? '', 60),
    ]),
  );
}

const TASK_COLUMNS: Column[] = [{ head: 'task_id', shrinkTo: 10 }, { head: 'status' }, { head: 'depends on', shrinkTo: 10, dropRank: 2 }, { head: 'worker', shrinkTo: 8, dropRank: 3 }, { head: 'duration', dropRank: 1 }, { head: 'result' }];

export function renderWorkflowDetail(workflow: WorkflowWithTasks & WorkflowEta, now: Date = new Date()): string {
  const times = [workflow.stats.start_time ? `started ${formatAge(workflow.stats.start_time, now)}` : 'not started', workflow.stats.end_time ? `ended ${formatAge(workflow.stats.end_time, now)}` : null].filter(Boolean).join(', ');
  const header = `workflow ${workflow.workflow_id}: ${workflow.status}${workflow.status_reason ? ` (${workflow.status_reason})` : ''}; ${times}`;
  // Only while something is left to run: the estimates pass has nothing to say of a finished workflow.
  const eta = workflow.expected_end_at
    ? `\nexpected end: ${workflow.expected_end_at} (${formatUntil(workflow.expected_end_at, now)})${workflow.eta_reason ? `: ${workflow.eta_reason}` : ''}`
    : workflow.eta_reason
      ? `\nexpected end: unknown (${workflow.eta_reason})`
      : '';
  const table = renderTable(
    TASK_COLUMNS,
    workflow.tasks.map((task) => [
      task.task_id,
      task.attempt > 1 ? `${task.status} (attempt ${task.attempt})` : task.status,
      task.depends_on.join(', ') || '-',
      task.worker ?? '-',
      task.started_at ? formatRunTime(task, now) : '-',
      task.result ?? '-',
    ]),
  );
  return `${header}${eta}\n${table}\n\n${renderDependencyTree(workflow.tasks)}`;
}
