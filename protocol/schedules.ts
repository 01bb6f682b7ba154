import { z } from 'zod';
import { cronExpressionIssues, isTimeZone } from './cronExpression';
import { taskSpecSchema } from './taskSpec';
import { parseDurationSeconds } from './units';
import { workRequestResultSchema, workRequestStatusSchema } from './workRequest';
import { workflowStatusSchema, workflowTemplateSchema } from './workflow';

/** Schedule names travel in paths and in `?schedule=`: keep them to one URL-safe segment. */
export const scheduleNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits and . _ - (starting with a letter or digit)');

export const scheduleNameParamsSchema = z.object({ name: scheduleNameSchema });

/** `every` fires at whole multiples of the period since the Unix epoch (every "30s": at :00 and :30). */
const MIN_EVERY_S = 1;

const filesSchema = z
  .object({
    /** Absolute path of a folder the server reads (the workers must see the same path). */
    folder: z.string().min(2).max(4096).regex(/^\//, 'must be an absolute path'),
    /** Regular expression a file's name must match; every name (but dot files) when absent. */
    expression: z
      .string()
      .min(1)
      .max(1000)
      .refine((source) => isRegExp(source), 'not a valid regular expression')
      .nullable()
      .optional(),
    /** One firing per this many new files; a partial batch waits for the rest. */
    batch_size: z.number().int().min(1).max(10_000).default(1),
  })
  .strict();

/**
 * One of `{cron, timezone?}`, `{every}` or `{files: {folder, expression?, batch_size?}}`. One object with the
 * three optional, not a union: a mistake is then named at its own field (`trigger.files.folder`), never as a
 * union's "invalid input".
 */
export const scheduleTriggerSchema = z
  .object({
    /** 5 fields (minute …) or 6 (second first), as node-cron reads them; nicknames such as @daily too. */
    cron: z.string().min(1).max(200).optional(),
    /** IANA time zone a cron expression is read in; default: the server's time zone when the schedule is created. */
    timezone: z.string().min(1).max(100).optional(),
    /** A period (seconds, or "30s", "15m", "2h"): fires at whole multiples of it since the Unix epoch. */
    every: z.union([z.number(), z.string()]).optional(),
    files: filesSchema.optional(),
  })
  .strict()
  .superRefine((trigger, ctx) => {
    const kinds = (['cron', 'every', 'files'] as const).filter((kind) => trigger[kind] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: kinds.length === 0 ? 'give one of cron, every or files' : `give only one of cron, every or files, not ${kinds.join(' and ')}` });
      return;
    }
    if (trigger.cron !== undefined) {
      for (const message of cronExpressionIssues(trigger.cron)) ctx.addIssue({ code: 'custom', path: ['cron'], message });
    }
    if (trigger.timezone !== undefined) {
      if (trigger.cron === undefined) ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'a time zone goes with a cron expression only' });
      else if (!isTimeZone(trigger.timezone)) {
        ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone ${JSON.stringify(trigger.timezone)} (use an IANA name such as "Europe/Paris" or "UTC")` });
      }
    }
    if (trigger.every !== undefined) {
      const seconds = parseDurationSeconds(trigger.every);
      if (seconds === null || seconds < MIN_EVERY_S || seconds > 365 * 86400) {
        ctx.addIssue({ code: 'custom', path: ['every'], message: `not a period from 1s to 365d: ${JSON.stringify(trigger.every)} (use seconds or e.g. "30s", "15m", "2h")` });
      }
    }
  })
  .transform((trigger): { cron: string; timezone?: string } | { every: string } | { files: { folder: string; expression: string | null; batch_size: number } } => {
    if (trigger.cron !== undefined) return trigger.timezone === undefined ? { cron: trigger.cron } : { cron: trigger.cron, timezone: trigger.timezone };
    if (trigger.every !== undefined) return { every: `${parseDurationSeconds(trigger.every)}s` };
    const files = trigger.files!;
    return { files: { folder: files.folder, expression: files.expression ?? null, batch_size: files.batch_size } };
  });
export type ScheduleTrigger = z.output<typeof scheduleTriggerSchema>;
export type CronTrigger = Extract<ScheduleTrigger, { cron: string }>;
export type FilesTrigger = Extract<ScheduleTrigger, { files: unknown }>;

export const OVERLAP_POLICIES = ['skip', 'allow'] as const;
export const CATCH_UP_POLICIES = ['none', 'latest'] as const;

/** Body of POST /api/v1/schedules. */
export const createScheduleRequestSchema = z
  .object({
    name: scheduleNameSchema,
    trigger: scheduleTriggerSchema,
    /** The task each firing creates. */
    spec: taskSpecSchema.optional(),
    /** Or a workflow template (the POST /api/v1/workflows body without workflow_id) each firing creates. */
    workflow: workflowTemplateSchema.optional(),
    /** skip (default for cron and every): no firing while the previous one's work is unfinished; files triggers default to allow. */
    overlap: z.enum(OVERLAP_POLICIES).optional(),
    /** After a downtime that missed fire times: none (default) fires at the next time, latest fires once for the most recent missed one. */
    catch_up: z.enum(CATCH_UP_POLICIES).default('none'),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.workflow !== undefined && body.spec !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['workflow'], message: 'give either a task spec in `spec` or a workflow template in `workflow`, not both' });
    } else if (body.workflow === undefined && body.spec === undefined) {
      ctx.addIssue({ code: 'custom', path: ['spec'], message: 'give the task spec each firing creates (or a workflow template in `workflow`)' });
    }
    if (body.workflow && 'files' in body.trigger) {
      ctx.addIssue({ code: 'custom', path: ['workflow'], message: 'a files trigger creates tasks from `spec`; workflow templates go with cron and every triggers' });
    }
    if (body.spec && 'files' in body.trigger && !body.spec.filepath_parameter) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'filepath_parameter'], message: 'a files trigger needs the parameter(s) that receive the file paths' });
    }
  });
export type CreateScheduleRequest = z.input<typeof createScheduleRequestSchema>;
export type NewSchedule = z.output<typeof createScheduleRequestSchema>;

const isoTime = z.string();

export const FIRING_REASONS = ['scheduled', 'catch_up', 'manual', 'files'] as const;

/** One firing: the key (schedule, fire_time), what it created and how that work stands now (its latest attempt). */
export const scheduleFiringSchema = z.object({
  fire_time: isoTime,
  reason: z.enum(FIRING_REASONS),
  work_request_id: z.number().int().nullable(),
  /** A workflow template's firing: the workflow it created, and `status` is that workflow's. */
  workflow_id: z.string().nullable(),
  status: z.union([workRequestStatusSchema, workflowStatusSchema]).nullable(),
  result: workRequestResultSchema.nullable(),
  /** The files a files trigger passed (in `filepath_parameter`). */
  files: z.array(z.string()).nullable(),
});
export type ScheduleFiring = z.infer<typeof scheduleFiringSchema>;

/** A schedule as the API returns it. */
export const scheduleSchema = z.object({
  name: z.string(),
  trigger: z.union([
    z.object({ cron: z.string(), timezone: z.string() }),
    z.object({ every: z.string() }),
    z.object({ files: z.object({ folder: z.string(), expression: z.string().nullable(), batch_size: z.number().int() }) }),
  ]),
  spec: z.record(z.string(), z.unknown()).nullable(),
  workflow: z.record(z.string(), z.unknown()).nullable(),
  overlap: z.enum(OVERLAP_POLICIES),
  catch_up: z.enum(CATCH_UP_POLICIES),
  enabled: z.boolean(),
  /** The next five fire times, ISO 8601 in the schedule's time zone; empty while paused and for files triggers. */
  next_fire_times: z.array(isoTime),
  last_firing: scheduleFiringSchema.nullable(),
  firings_count: z.number().int(),
  /** Fire times passed over because the previous firing's work was unfinished (overlap: skip). */
  skipped_count: z.number().int(),
  /** Files trigger: files seen and waiting for a full batch. */
  pending_files: z.number().int().nullable(),
  /** Why the last look at a files trigger's folder failed, until one succeeds. */
  last_error: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});
export type Schedule = z.infer<typeof scheduleSchema>;

export const scheduleListSchema = z.object({ schedules: z.array(scheduleSchema) });

/** What POST /schedules/:name/trigger fired (files triggers: every pending file, a partial batch too; maybe none). */
export const triggerScheduleResponseSchema = z.object({ schedule: z.string(), firings: z.array(scheduleFiringSchema) });

/** Query of GET /api/v1/schedules. */
export const listSchedulesQuerySchema = z.object({ enabled: z.enum(['true', 'false']).transform((value) => value === 'true').optional() }).strict();

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
