/*
 * The shapes the dashboard reads, as the API sends them (protocol/ on the server holds their zod schemas;
 * the dashboard keeps only the fields it shows).
 */
export type Status = 'blocked' | 'pending' | 'running' | 'completed' | 'aborted';
export type Result = 'success' | 'failure' | 'error' | 'skipped';

export interface LearnedRequirement {
  resource: string;
  value: number;
  reason: string;
}

export interface WorkRequest {
  id: number;
  task_name: string;
  subject: string | null;
  context: string | null;
  status: Status;
  result: Result | null;
  state_reason: string | null;
  priority: number;
  priority_adjustment: number;
  task_data: { execution: unknown; use_history: boolean };
  requirements: Record<string, unknown>;
  learned_requirements: LearnedRequirement[];
  worker: { id: number; name: string } | null;
  attempt: number;
  max_attempts: number;
  supersedes: number | null;
  superseded_by: number | null;
  not_before: string | null;
  time_limit_s: number | null;
  interrupt_allowed: boolean;
  user_metadata: unknown;
  output_data: {
    runtime_statistics?: Record<string, unknown>;
    errors?: Array<{ message: string; code: string }>;
    skip_reason?: string;
  } | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  workflow_id?: string | number | null;
}

export interface LogEntry {
  seq: number;
  ts: string;
  stream: 'stdout' | 'stderr' | 'system';
  text: string;
}

export interface Worker {
  id: number;
  name: string;
  state: 'idle' | 'busy' | 'offline' | 'disabled';
  resources: { cpu_count: number; total_memory: number; available_memory: number; available_disk_space: number; architecture?: string; os?: string; gpus: Array<{ model: string }> };
  tags: string[];
  concurrency: number;
  running: number;
  cost_per_hour: number | null;
  registered_at: string;
  last_seen_at: string | null;
}

export interface WorkerStatistics {
  id: number;
  runs: number;
  failures: number;
  busy_time_s: number;
  utilisation: number;
}

export interface Summary {
  work_requests: { total: number; by_status: Record<Status, number>; by_result: Record<Result, number>; unschedulable: number };
  workers: { total: number; by_state: Record<Worker['state'], number> };
}

export interface TimelineBucket {
  start: string;
  completed: Record<Result | 'aborted', number>;
  queue_wait_s: { count: number; p50: number | null; p95: number | null; max: number | null };
}

export interface Timeline {
  window_s: number;
  bucket_s: number;
  buckets: TimelineBucket[];
}

export interface TaskStatistics {
  task_name: string;
  subject: string | null;
  context: string | null;
  runs: number;
  successes: number;
  failures: number;
  success_rate: number | null;
  sampled_runs: number;
  duration: { p50: number | null; p95: number | null; max: number | null };
  cpu_time: { p50: number | null; p95: number | null };
  memory: { p50: number | null; p95: number | null; max: number | null };
  disk_space: { p95: number | null; max: number | null };
  last_run_at: string | null;
}

export interface Run {
  work_request_id: number | null;
  subject: string | null;
  context: string | null;
  attempt: number;
  result: Result;
  error_code: string | null;
  worker_name: string | null;
  duration_s: number | null;
  cpu_time_s: number | null;
  memory: number | null;
  disk_space: number | null;
  completed_at: string;
}

interface Percentiles {
  p50: number | null;
  p95: number | null;
}

export interface TaskRuns {
  task_name: string;
  subject: string | null;
  context: string | null;
  runs: Run[];
  success_percentiles: { sampled_runs: number; duration_s: Percentiles; cpu_time_s: Percentiles; memory: Percentiles; disk_space: Percentiles };
  learned_requirements: LearnedRequirement[];
}

export type WorkflowStatus = 'PENDING' | 'RUNNING' | 'SUCCESSFUL' | 'FAILED' | 'RESUMABLE' | 'CANCELED';

export interface Workflow {
  workflow_id: string;
  status: WorkflowStatus;
  status_reason: string | null;
  open: boolean;
  user_metadata: unknown;
  priority: number;
  max_running: number | null;
  budget: string | null;
  on_budget: 'pause' | 'stop';
  max_cost_per_result: number | null;
  cost: number;
  budget_spent: number | null;
  budget_reason: string | null;
  stats: { start_time?: string; end_time?: string };
  task_counts: Record<Status | 'total', number>;
  created_at: string;
  updated_at: string;
}

export interface WorkflowTask {
  task_id: string;
  work_request_id: number;
  status: Status;
  result: Result | null;
  attempt: number;
  depends_on: string[];
  worker: string | null;
  started_at: string | null;
  completed_at: string | null;
}

export interface RunWorker {
  worker: string;
  worker_id: number;
  status: 'ready' | 'busy' | 'stopped' | 'offline';
  tasks: number;
  running: number;
  cost: number;
  cost_per_result: number | null;
  results: number;
  stop_reason: string | null;
}

export interface RunSpend {
  budget: string | null;
  budget_limit: number | null;
  budget_window_s: number | null;
  window: string;
  step_s: number;
  steps: Array<{ start: string; cost: number; window_spend: number | null }>;
}

export interface ScheduleFiring {
  fire_time: string;
  reason: string;
  work_request_id: number | null;
  workflow_id: number | null;
  status: Status | null;
  result: Result | null;
}

export interface Schedule {
  name: string;
  trigger: { cron: string; timezone: string } | { every: string } | { files: { folder: string; expression: string | null; batch_size: number } };
  enabled: boolean;
  overlap: string;
  next_fire_times: string[];
  last_firing: ScheduleFiring | null;
  firings_count: number;
  skipped_count: number;
  pending_files: number | null;
  last_error: string | null;
}
