import type { ClaimedWorkRequest, OutputData } from '../../protocol';

/** How cpu_time and memory were obtained; reported as runtime_statistics.measurement. */
export type MeasurementMethod = 'cgroup-v2' | 'cgroup-v1' | 'proc';

export type OutputStream = 'stdout' | 'stderr' | 'system';

export interface WorkerSnapshot {
  available_disk_space: number;
  available_memory: number;
  cpu_count: number;
}

/** An unprivileged user a task runs as (the worker being root). */
export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
}

export interface RunTaskOptions {
  workRequest: ClaimedWorkRequest;
  /** Per-task directories are created under it. */
  workRoot: string;
  /** Default false: delete the task dir (and task file) afterwards. */
  keepWorkdir?: boolean;
  /** SIGTERM → SIGKILL grace in ms, default 10_000. */
  killGraceMs?: number;
  /** Reported as-is in runtime_statistics. */
  workerSnapshot: WorkerSnapshot;
  /** Variables of the worker's environment passed to the task besides the allowlist (`--pass-env`). */
  passEnv?: readonly string[];
  /**
   * Run the task as this user: its working directory and task file are given to it (mode 700/600), HOME is the
   * working directory. Unset: as the worker's own user.
   */
  runAs?: TaskUser;
  /** Raw utf8 chunks as they come; 'system' chunks are single lines ending in "\n". */
  onOutput(stream: OutputStream, text: string): void;
  /** Override the detected method (tests, or an operator forcing the /proc fallback). */
  measurementMethod?: MeasurementMethod;
  /**
   * Testing aid only: put a memory limit on the task's cgroup (ignored under 'proc'). Workers never set it,
   * since specs' memory requirements are for scheduling, not enforcement.
   */
  memoryLimitBytes?: number;
}

export type TaskResult = 'success' | 'failure' | 'error' | 'aborted';

export interface TaskOutcome {
  /** 'aborted' = killed by RunningTask.kill(). */
  result: TaskResult;
  output_data: OutputData;
}

/** `preempted`: the server requeued it for a higher-priority request (SIGTERM, then the full kill grace). */
export type KillReason = 'cancelled' | 'shutdown' | 'preempted';

export interface RunningTask {
  /** The task's main process (also its process group id); undefined until spawned or if it never started. */
  readonly pid: number | undefined;
  readonly workdir: string;
  readonly done: Promise<TaskOutcome>;
  kill(reason: KillReason): void;
}
