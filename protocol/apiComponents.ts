import { z } from 'zod';
import { errorResponseSchema } from './errors';
import { outputDataSchema, outputErrorSchema, runtimeStatisticsSchema } from './outputData';
import { recentRunSchema, statisticsSummarySchema, taskStatisticsSchema, workerStatisticsSchema } from './statistics';
import { executionSchema, resourceRequirementsSchema, taskSpecSchema } from './taskSpec';
import {
  claimedWorkRequestSchema,
  completionAnswerSchema,
  completionItemSchema,
  workerResourcesSchema,
  workerSchema,
} from './workerApi';
import { fileExpansionSchema } from './workflow';
import {
  learnedRequirementSchema,
  logEntrySchema,
  workRequestListSchema,
  workRequestResultSchema,
  workRequestSchema,
  workRequestStatusSchema,
} from './workRequest';

/**
 * The shapes OpenAPI names once, as `#/components/schemas/NAME`, and references wherever a route uses them, so
 * a generated client has one `WorkRequest` type, not one per route. Add a schema here (or give it
 * `.meta({ id: 'Name' })` where it is defined: zod's own way, read the same) when routes share it. A shape
 * that reads differently as a request body than as an answer (defaults, sizes given as text) is named twice:
 * `Name` as the server sends it and `NameInput` as a client may send it. Free JSON values are always the one
 * `JsonValue` (protocol/openapi.ts).
 */
export const API_COMPONENTS: Record<string, z.ZodType> = {
  Error: errorResponseSchema,
  TaskSpec: taskSpecSchema,
  Execution: executionSchema,
  ResourceRequirements: resourceRequirementsSchema,
  WorkRequest: workRequestSchema,
  WorkRequestList: workRequestListSchema,
  WorkRequestStatus: workRequestStatusSchema,
  WorkRequestResult: workRequestResultSchema,
  LearnedRequirement: learnedRequirementSchema,
  LogEntry: logEntrySchema,
  OutputData: outputDataSchema,
  OutputError: outputErrorSchema,
  RuntimeStatistics: runtimeStatisticsSchema,
  Worker: workerSchema,
  WorkerResources: workerResourcesSchema,
  ClaimedWorkRequest: claimedWorkRequestSchema,
  CompletionItem: completionItemSchema,
  CompletionAnswer: completionAnswerSchema,
  TaskStatistics: taskStatisticsSchema,
  RecentRun: recentRunSchema,
  WorkerStatistics: workerStatisticsSchema,
  StatisticsSummary: statisticsSummarySchema,
  FileExpansion: fileExpansionSchema,
};

/** Gives each schema of API_COMPONENTS its id in zod's global registry (keeping its other metadata); idempotent. */
export function registerApiComponents(components: Record<string, z.ZodType> = API_COMPONENTS): void {
  for (const [id, schema] of Object.entries(components)) {
    const meta = z.globalRegistry.get(schema);
    if (meta?.id !== undefined && meta.id !== id) throw new Error(`schema named ${JSON.stringify(id)} in API_COMPONENTS already has the id ${JSON.stringify(meta.id)}`);
    z.globalRegistry.add(schema, { ...meta, id });
  }
}
