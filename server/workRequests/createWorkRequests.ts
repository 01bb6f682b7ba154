import type { Pool, PoolClient } from 'pg';
import type { WorkRequest } from '../../entities';
import { requiredFilesOf, type TaskSpec } from '../../protocol/taskSpec';
import { historyKeyOf, historyLevels, type HistoryKey } from '../history/historyKey';
import { requirementsFromProfile, type LabelledSuccessProfile, type LearnedRequirements } from '../history/learnRequirements';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { CHANNELS } from '../notifications';
import { explicitRequirements } from '../scheduler/effectiveRequirements';
import { unschedulableReason, type WorkerCapacity } from '../scheduler/unschedulableReason';
import {
  insertWorkRequestsStatement,
  createReadsStatement,
  type InsertedWorkRequests,
  type NewWorkRequestValues,
} from '../sql/createWorkRequests';
import type { SuccessProfile } from '../sql/successProfile';
import { isDatabaseUnavailable } from '../databaseErrors';
import { newWorkRequestRow } from './newWorkRequest';
import { deferPendingWork } from './notifyChanges';

/**
 * Stores validated task specs as pending work requests, all or none, in input order: requirements learned from
 * history fill what each spec leaves open (computed once per distinct history key, all keys in one statement),
 * the unschedulable reason is set where no enabled worker can run one, and claimers are woken once. Without the
 * ORM: one statement when nothing is learned and a worker fits every request (the guarded insert), else at most
 * three (plus the failed guarded one) whatever the count; the insert is one statement, hence one transaction
 * (its wake-up is published after it within withNotificationsAfterCommit, else sent by the insert itself). Returns the rows in input order, shaped as the entity (serializeWorkRequest).
 */
export async function createWorkRequests(pool: Pool, specs: TaskSpec[], policy: SchedulingPolicy): Promise<WorkRequest[]> {
  if (specs.length === 0) return [];
  const client = await pool.connect();
  try {
    const created = await createWorkRequestsOn(client, specs, policy);
    client.release();
    return created;
  } catch (error) {
    // A connection that timed out or broke may never answer again: drop it from the pool.
    client.release(isDatabaseUnavailable(error) ? (error as Error) : undefined);
    throw error;
  }
}

/**
 * createWorkRequests on a connection the caller holds, inside its transaction when it has begun one (a
 * schedule's firing row and the work it creates commit together; the wake-up is sent at that commit).
 * `schedules`: the name of the schedule each spec's request is created by (its `schedule`), in spec order.
 */
export async function createWorkRequestsOn(client: PoolClient, specs: TaskSpec[], policy: SchedulingPolicy, schedules?: Array<string | null>): Promise<WorkRequest[]> {
  if (specs.length === 0) return [];
  // Within withNotificationsAfterCommit the wake-up goes after the commit; otherwise with the insert.
  const channel = deferPendingWork(specs.length) ? null : CHANNELS.pendingWork;
  const historyNames = [...new Set(specs.filter((spec) => spec.use_history).map((spec) => keyOf(spec).taskName))];
  if (!historyNames.some((name) => tasksWithHistory.has(name))) {
    // Most creates learn nothing and fit a worker: one statement that checks both and inserts, instead of three.
    const rows = newRows(specs, schedules, withoutHistory, null);
    const inserted = await client.query<InsertedWorkRequests>(insertWorkRequestsStatement(rows.map(toValues), channel, historyNames));
    if (inserted.rows[0].ids !== null) return entitiesOf(inserted.rows[0], rows);
  }
  const { learn, workers } = await readForCreate(client, specs, policy);
  const rows = newRows(specs, schedules, learn, workers);
  const inserted = await client.query<InsertedWorkRequests>(insertWorkRequestsStatement(rows.map(toValues), channel));
  return entitiesOf(inserted.rows[0], rows);
}

/**
 * Task names this process saw successful runs of (the guarded insert would fail for them): such creates go
 * straight to the reads. A hint only, whatever database it came from: the guard decides what is written.
 */
const tasksWithHistory = new Set<string>();
const TASKS_WITH_HISTORY_MAX = 10_000;

function rememberHistory(taskName: string): void {
  if (tasksWithHistory.size >= TASKS_WITH_HISTORY_MAX) tasksWithHistory.clear();
  tasksWithHistory.add(taskName);
}

/** What requirementsLearner answers for a spec whose key has no successful run at any level. */
const withoutHistory = (spec: TaskSpec): LearnedRequirements => ({ learned: [], ...explicitRequirements(spec.resources) });

function newRows(
  specs: TaskSpec[],
  schedules: Array<string | null> | undefined,
  learn: (spec: TaskSpec) => LearnedRequirements,
  workers: WorkerCapacity[] | null,
) {
  return specs.map((spec, index) => {
    const effective = learn(spec);
    return newWorkRequestRow({
      schedule: schedules?.[index] ?? null,
      taskName: spec.task_name,
      subject: spec.subject ?? null,
      context: spec.context ?? null,
      taskData: { execution: spec.execution, use_history: spec.use_history, ...requiredFilesOf(spec) },
      requirements: spec.resources,
      effective,
      learned: effective.learned,
      // null workers: the guarded insert checks that one fits.
      unschedulableReason: workers === null ? null : unschedulableReason(effective, workers),
      stateReason: null,
      priority: spec.priority,
      priorityAdjustment: 0,
      attempt: 1,
      maxAttempts: spec.max_attempts,
      timeLimitS: spec.time_limit ?? null,
      interruptAllowed: spec.interrupt_allowed,
      userMetadata: spec.user_metadata,
    });
  });
}

const keyOf = (spec: TaskSpec): HistoryKey => historyKeyOf({ taskName: spec.task_name, subject: spec.subject, context: spec.context });
const keyText = (key: HistoryKey) => JSON.stringify([key.taskName, key.subject, key.context]);

/**
 * What the create path reads, in one statement: each spec's learner (one profile per distinct history key, then
 * per spec's resources) and the enabled workers' capacities.
 */
async function readForCreate(
  client: PoolClient,
  specs: TaskSpec[],
  policy: SchedulingPolicy,
): Promise<{ learn: (spec: TaskSpec) => LearnedRequirements; workers: WorkerCapacity[] }> {
  const keys = new Map<string, HistoryKey>();
  for (const spec of specs) {
    if (!spec.use_history) continue;
    const key = keyOf(spec);
    keys.set(keyText(key), key);
  }
  const list = [...keys.values()];
  type ProfileRow = SuccessProfile & { key_index: string | number; level: number };
  type WorkerRow = { total_memory: string | number; available_disk_space: string | number; cpu_count: number; gpu_count: number; tags: string[] };
  const result = await client.query<{ profiles: ProfileRow[]; workers: WorkerRow[] }>(createReadsStatement(list, policy.sampleRuns));
  const { profiles: profileRows, workers } = result.rows[0];
  const profiles = new Map<string, LabelledSuccessProfile | null>();
  const levelsByKey = new Map<number, Map<number, SuccessProfile>>();
  for (const row of profileRows) {
    const index = Number(row.key_index) - 1;
    let levels = levelsByKey.get(index);
    if (!levels) levelsByKey.set(index, (levels = new Map<number, SuccessProfile>()));
    levels.set(row.level, row);
  }
  list.forEach((key, index) => {
    const profile = mostSpecificProfile(key, levelsByKey.get(index));
    if (profile) rememberHistory(key.taskName);
    profiles.set(keyText(key), profile);
  });
  return {
    learn: learnerOf(profiles, policy),
    workers: workers.map((row) => ({
      totalMemory: Number(row.total_memory),
      availableDiskSpace: Number(row.available_disk_space),
      cpuCount: row.cpu_count,
      gpuCount: row.gpu_count,
      tags: row.tags,
    })),
  };
}

/** Each spec's requirements from its key's profile and its own resources. */
function learnerOf(profiles: Map<string, LabelledSuccessProfile | null>, policy: SchedulingPolicy): (spec: TaskSpec) => LearnedRequirements {
  // Specs of one key may name different resources; most batches repeat a few combinations.
  const learned = new Map<string, LearnedRequirements>();
  return (spec) => {
    if (!spec.use_history) return { learned: [], ...explicitRequirements(spec.resources) };
    const text = keyText(keyOf(spec));
    const cacheKey = `${text}${JSON.stringify(spec.resources)}`;
    let requirements = learned.get(cacheKey);
    if (!requirements) learned.set(cacheKey, (requirements = requirementsFromProfile(profiles.get(text) ?? null, spec.resources, policy.headroom)));
    return requirements;
  };
}

/** The first level of historyLevels (most specific first) that has successful runs. */
function mostSpecificProfile(key: HistoryKey, levels: Map<number, SuccessProfile> | undefined): LabelledSuccessProfile | null {
  const labels = historyLevels(key).map((level) => level.label);
  for (const level of [1, 2, 3]) {
    const stats = levels?.get(level);
    if (stats && Number(stats.runs) > 0) return { label: labels[level - 1], stats };
  }
  return null;
}

type NewRow = ReturnType<typeof newWorkRequestRow>;

function toValues(row: NewRow): NewWorkRequestValues {
  return {
    taskName: row.taskName,
    subject: row.subject ?? null,
    context: row.context ?? null,
    taskData: JSON.stringify(row.taskData),
    requirements: JSON.stringify(row.requirements),
    learnedRequirements: JSON.stringify(row.learnedRequirements),
    needMemory: row.needMemory ?? null,
    needDisk: row.needDisk ?? null,
    needCpu: row.needCpu ?? null,
    needGpu: row.needGpu ?? null,
    needTags: JSON.stringify(row.needTags ?? []),
    unschedulableReason: row.unschedulableReason ?? null,
    priority: row.priority,
    maxAttempts: row.maxAttempts,
    timeLimitS: row.timeLimitS ?? null,
    interruptAllowed: row.interruptAllowed,
    userMetadata: JSON.stringify(row.userMetadata),
    schedule: row.schedule ?? null,
  };
}

/** The inserted rows as entities, in input order; throws unless the statement inserted every row. */
function entitiesOf(inserted: InsertedWorkRequests, rows: NewRow[]): WorkRequest[] {
  const { ids, created_at: createdAt } = inserted;
  if (ids === null || createdAt === null || ids.length !== rows.length) throw new Error(`inserted ${ids?.length ?? 0} work requests of ${rows.length}`);
  return rows.map((row, index) => toEntityShape(Number(ids[index]), createdAt, row));
}

/**
 * The stored row as the entity reads it: the columns we sent, plus the id and time PostgreSQL gave it. Fields are
 * named one by one (as newWorkRequestRow): a spread of this many keys was a third of a batch create's CPU.
 */
function toEntityShape(id: number, createdAt: Date, row: NewRow): WorkRequest {
  return {
    id,
    taskName: row.taskName,
    subject: row.subject,
    context: row.context,
    status: row.status,
    result: null,
    stateReason: row.stateReason,
    priority: row.priority,
    priorityAdjustment: row.priorityAdjustment,
    taskData: row.taskData,
    requirements: row.requirements,
    learnedRequirements: row.learnedRequirements,
    needMemory: row.needMemory,
    needDisk: row.needDisk,
    needCpu: row.needCpu,
    needGpu: row.needGpu,
    needTags: row.needTags,
    worker: null,
    attempt: row.attempt,
    maxAttempts: row.maxAttempts,
    supersedesId: null,
    supersededById: null,
    workflowId: null,
    taskId: null,
    allowFailure: false,
    schedule: row.schedule ?? null,
    timeLimitS: row.timeLimitS,
    interruptAllowed: row.interruptAllowed,
    userMetadata: row.userMetadata,
    outputData: null,
    cost: null,
    expectedCost: null,
    budgetHeld: false,
    notBefore: null,
    logBytes: 0,
    logTruncated: false,
    unschedulableReason: row.unschedulableReason,
    preemptedAt: null,
    reservedWorkerId: null,
    reservedUntil: null,
    createdAt,
    startedAt: null,
    completedAt: null,
  };
}
