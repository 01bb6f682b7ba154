import type { Command } from 'commander';
import { describeZodError } from '../../protocol/errors';
import { createScheduleRequestSchema, type CreateScheduleRequest, type Schedule, type ScheduleFiring } from '../../protocol/schedules';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { formatAge, parseIntegerOption, printJson, truncate } from '../format';
import { renderTable, type Column } from '../table';
import { buildSpec, type SubmitFlags } from './submit';

interface AddFlags extends SubmitFlags {
  cron?: string;
  timezone?: string;
  every?: string;
  files?: string;
  expression?: string;
  batchSize?: string;
  filepathParameter?: string[];
  overlap?: string;
  catchUp?: string;
  paused?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `worksched schedule add|list|show|pause|resume|trigger|rm`: recurring and file-driven work over the HTTP API. */
export function registerScheduleCommand(program: Command): void {
  const schedule = program.command('schedule').description('schedules: run a task on a cron expression, every period, or for each new file in a folder');

  withConnectionOptions(
    schedule
      .command('add')
      .description('create a schedule whose firings create the task given as a spec file or as --task-name NAME -- COMMAND…')
      .argument('<name>', 'schedule name (letters, digits, . _ -)')
      .argument('[spec-or-command...]', 'FILE.json or "-"; with --task-name: -- EXECUTABLE ARGS…')
      .option('--cron <expression>', 'cron expression, 5 fields or 6 with seconds first (node-cron), e.g. "*/5 * * * *"')
      .option('--timezone <zone>', "with --cron: IANA time zone (default: the server's)")
      .option('--every <period>', 'fire every period, e.g. 30s, 15m, 2h')
      .option('--files <folder>', 'fire for each new file in this folder (absolute path the server and the workers see)')
      .option('--expression <regex>', 'with --files: file names must match this regular expression')
      .option('--batch-size <n>', 'with --files: one firing per this many new files')
      .option('--filepath-parameter <name>', 'with --files: parameter that receives the file path(s) (repeatable)', collect)
      .option('--overlap <policy>', 'skip (default for --cron/--every: not while the last firing runs) or allow')
      .option('--catch-up <policy>', 'after a downtime: none (default) or latest (fire once for the missed times)')
      .option('--paused', 'create it paused')
      .option('--task-name <name>', 'task name; the command follows "--"')
      .option('--time-limit <duration>', 'time limit of each task: seconds or e.g. 90s, 15m, 2h')
      .option('--memory <size>', 'memory each task needs, e.g. 2GiB')
      .option('--cpu <n>', 'CPUs each task needs')
      .option('--param <NAME=VALUE>', 'parameter, passed as --NAME=VALUE (repeatable)', collect)
      .option('--env <NAME=VALUE>', 'environment variable (repeatable)', collect)
      .option('--no-interrupt', 'tasks must not be interrupted once started')
      .option('--json', 'print the schedule as JSON')
      .addHelpText(
        'after',
        '\nExamples:\n  worksched schedule add nightly --cron "0 3 * * *" --timezone Europe/Paris --task-name backup -- /usr/local/bin/backup\n' +
          '  worksched schedule add poll --every 30s spec.json\n' +
          '  worksched schedule add inbox --files /data/in --expression "\\.csv$" --filepath-parameter input --task-name load -- /usr/local/bin/load\n',
      ),
  ).action(async (name: string, operands: string[], flags: AddFlags) => {
    const body = await buildScheduleBody(name, operands, flags);
    const created = await connect(flags).createSchedule(body);
    if (flags.json) printJson(created);
    else process.stdout.write(`${renderSchedule(created)}\n`);
  });

  withConnectionOptions(
    schedule.command('list').description('list schedules: trigger, state, next fire time, last firing').option('--json', 'print JSON'),
  ).action(async (flags: ConnectionOptions & { json?: boolean }) => {
    const schedules = await connect(flags).listSchedules();
    if (flags.json) printJson(schedules);
    else if (schedules.length === 0) process.stderr.write('no schedules yet (add one with `worksched schedule add`)\n');
    else process.stdout.write(`${renderScheduleList(schedules)}\n`);
  });

  withConnectionOptions(
    schedule.command('show').description('one schedule: its next five fire times, last firing and its result, counts').argument('<name>').option('--json', 'print JSON'),
  ).action(async (name: string, flags: ConnectionOptions & { json?: boolean }) => {
    const shown = await connect(flags).getSchedule(name);
    if (flags.json) printJson(shown);
    else process.stdout.write(`${renderSchedule(shown)}\n`);
  });

  for (const [verb, description] of [
    ['pause', 'stop firing until resumed'],
    ['resume', 'fire again from the next fire time after now'],
  ] as const) {
    withConnectionOptions(schedule.command(verb).description(description).argument('<name>')).action(async (name: string, flags: ConnectionOptions) => {
      const client = connect(flags);
      const after = verb === 'pause' ? await client.pauseSchedule(name) : await client.resumeSchedule(name);
      const next = after.next_fire_times[0];
      process.stdout.write(`${verb === 'pause' ? 'paused' : 'resumed'} ${after.name}${next ? `; next fire time ${next}` : ''}\n`);
    });
  }

  withConnectionOptions(
    schedule.command('trigger').description('fire now (paused or not); a files schedule fires every pending file, a partial batch too').argument('<name>').option('--json', 'print JSON'),
  ).action(async (name: string, flags: ConnectionOptions & { json?: boolean }) => {
    const fired = await connect(flags).triggerSchedule(name);
    if (flags.json) printJson(fired);
    else if (fired.firings.length === 0) process.stdout.write(`${fired.schedule}: no pending file to fire\n`);
    else for (const firing of fired.firings) process.stdout.write(`fired ${fired.schedule} at ${firing.fire_time}: work request ${firing.work_request_id}\n`);
  });

  withConnectionOptions(schedule.command('rm').description('delete a schedule (the work it created stays)').argument('<name>')).action(async (name: string, flags: ConnectionOptions) => {
    await connect(flags).deleteSchedule(name);
    process.stdout.write(`deleted schedule ${name}\n`);
  });
}

/** The POST body from the flags, checked here first so that a mistake is one line and exit code 2. */
async function buildScheduleBody(name: string, operands: string[], flags: AddFlags): Promise<CreateScheduleRequest> {
  const kinds = [flags.cron && '--cron', flags.every && '--every', flags.files && '--files'].filter(Boolean);
  if (kinds.length !== 1) throw new CliUsageError(kinds.length === 0 ? 'give one of --cron, --every or --files' : `give only one of ${kinds.join(', ')}`);
  const spec = await buildSpec(operands, flags);
  if (flags.filepathParameter) spec.filepath_parameter = flags.filepathParameter;
  const trigger = flags.cron
    ? { cron: flags.cron, ...(flags.timezone ? { timezone: flags.timezone } : {}) }
    : flags.every
      ? { every: flags.every }
      : {
          files: {
            folder: flags.files!,
            ...(flags.expression ? { expression: flags.expression } : {}),
            ...(flags.batchSize ? { batch_size: parseIntegerOption(flags.batchSize, '--batch-size', { min: 1 }) } : {}),
          },
        };
  const body = {
    name,
    trigger,
    spec,
    ...(flags.overlap ? { overlap: flags.overlap } : {}),
    ...(flags.catchUp ? { catch_up: flags.catchUp } : {}),
    ...(flags.paused ? { enabled: false } : {}),
  } as CreateScheduleRequest;
  // The folder check needs the server's file system: zod here, the rest there.
  const parsed = createScheduleRequestSchema.safeParse(body);
  if (!parsed.success) throw new CliUsageError(`schedule: ${describeZodError(parsed.error)}`);
  return body;
}

export function describeTrigger(trigger: Schedule['trigger']): string {
  if ('cron' in trigger) return `cron ${trigger.cron} (${trigger.timezone})`;
  if ('every' in trigger) return `every ${trigger.every}`;
  const { folder, expression, batch_size: batchSize } = trigger.files;
  return `files in ${folder}${expression ? ` matching ${expression}` : ''}${batchSize > 1 ? `, batches of ${batchSize}` : ''}`;
}

function describeFiring(firing: ScheduleFiring | null, now: Date): string {
  if (!firing) return 'never';
  const work = firing.work_request_id === null ? 'no work' : `#${firing.work_request_id} ${firing.result ? `${firing.status}/${firing.result}` : (firing.status ?? 'gone')}`;
  return `${formatAge(firing.fire_time, now)}: ${work}`;
}

const LIST_COLUMNS: Column[] = [
  { head: 'name', shrinkTo: 10 },
  { head: 'trigger', shrinkTo: 12 },
  { head: 'state' },
  { head: 'next fire time', dropRank: 2 },
  { head: 'last firing', shrinkTo: 14 },
  { head: 'firings' },
  { head: 'skipped', dropRank: 1 },
];

export function renderScheduleList(schedules: Schedule[], now: Date = new Date(), width?: number | null): string {
  const rows = schedules.map((item) => [
    truncate(item.name, 40),
    truncate(describeTrigger(item.trigger), 50),
    item.last_error ? 'error' : item.enabled ? 'active' : 'paused',
    item.next_fire_times[0] ?? ('files' in item.trigger && item.enabled ? `${item.pending_files ?? 0} file(s) waiting` : '-'),
    describeFiring(item.last_firing, now),
    item.firings_count,
    item.skipped_count,
  ]);
  return renderTable(LIST_COLUMNS, rows, { width });
}

/** `schedule show`: the schedule, its next fire times and its last firing, one fact a line. */
export function renderSchedule(item: Schedule, now: Date = new Date()): string {
  const lines = [
    `schedule ${item.name} (${item.enabled ? 'active' : 'paused'})`,
    `  trigger:    ${describeTrigger(item.trigger)}`,
    `  task:       ${typeof item.spec?.task_name === 'string' ? item.spec.task_name : '-'}`,
    `  overlap:    ${item.overlap}    catch-up: ${item.catch_up}`,
    `  firings:    ${item.firings_count}    skipped: ${item.skipped_count}${item.pending_files !== null ? `    files waiting: ${item.pending_files}` : ''}`,
    `  last:       ${describeFiring(item.last_firing, now)}${item.last_firing ? ` (fire time ${item.last_firing.fire_time}, ${item.last_firing.reason})` : ''}`,
  ];
  if (item.last_error) lines.push(`  error:      ${item.last_error}`);
  if (item.next_fire_times.length > 0) {
    lines.push('  next fire times:');
    for (const time of item.next_fire_times) lines.push(`    ${time}`);
  }
  return lines.join('\n');
}
