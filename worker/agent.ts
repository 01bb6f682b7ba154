import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasErrorCode, isTransient } from '../client/errors';
import { ERROR_CODES, type OutputData } from '../protocol/outputData';
import { MAX_RESULTS_PER_CALL, type ClaimedWorkRequest, type WorkerResources } from '../protocol/workerApi';
import { Backoff } from '../common/backoff';
import { createLogger, type Logger } from '../common/logger';
import { sleep } from '../common/sleep';
import { WorkerConfigError, type WorkerConfig } from './config';
import { detectMeasurementMethod, startTask, taskSpawner, type RunningTask, type TaskOutcome } from './execution';
import { loadOrRegisterIdentity, type LoadedIdentity } from './identity';
import { LogShipper } from './logShipper';
import { LogSpool } from './logSpool';
import { Outbox, toCompletionItem } from './outbox';
import { collectResources } from './resources';
import { WorkerServerApi } from './serverApi';
import { firstUnreachableDirectory, TaskUsers } from './taskUsers';

/** Static facts (OS, GPUs) are read once; memory and disk are refreshed this often in heartbeats. */
const RESOURCE_REFRESH_MS = 30_000;
const MAX_HEARTBEAT_INTERVAL_MS = 1_000;

/** How long a second signal waits for killed tasks to be handed back before the worker exits anyway. */
const STOP_NOW_HANDBACK_MS = 3_000;

interface ActiveTask {
  request: ClaimedWorkRequest;
  task: RunningTask;
  shipper: LogShipper;
  cancelled: boolean;
  /** The server preempted it (requeued it for a higher-priority request): stopped and not reported. */
  preempted?: boolean;
  /** The task ended and its report is on disk in the outbox. */
  settled?: Promise<void>;
}

/** What a stop did with the work in hand: the worker's last log line, and what `worksched start` prints. */
export interface StopSummary {
  /** Tasks running when the stop began that ran to their end. */
  finished: number;
  /** Tasks killed by the stop and handed back to the server (requeued, or aborted if not interruptible). */
  handedBack: number;
  /** Reports still on disk, sent at the next start. */
  undelivered: number;
}

/**
 * The worker agent: registers (or reuses its saved identity), heartbeats, long-polls for work that fits its
 * free slots, runs each request through `worker/execution`, ships logs, and reports results through a durable
 * outbox. `stop()` drains: no new claims, running tasks finish (until the drain timeout, then they are killed
 * and given back to the server).
 */
export class WorkerAgent {
  private readonly active = new Map<number, ActiveTask>();
  private readonly stopClaiming = new AbortController();
  private readonly stopBackground = new AbortController();
  private slotFreed: (() => void) | null = null;
  private api!: WorkerServerApi;
  private outbox!: Outbox;
  private spool!: LogSpool;
  private resources!: WorkerResources;
  private taskUsers!: TaskUsers;
  /** Where tasks' working directories go: the work dir, unless tasks cannot reach it (prepareDirectories). */
  private taskRoot = '';
  private resourcesAt = 0;
  private heartbeatIntervalMs = MAX_HEARTBEAT_INTERVAL_MS;
  private settingsSent = false;
  private loops: Promise<unknown>[] = [];
  private stopping: Promise<StopSummary> | null = null;
  private readonly stopCounts = { finished: 0, handedBack: 0 };
  readonly logger: Logger;
  name = '';

  constructor(private readonly config: WorkerConfig, logger?: Logger) {
    this.logger = logger ?? createLogger({ level: config.logLevel, format: config.logFormat, name: 'worksched-worker' });
  }

  async start(): Promise<void> {
    this.taskUsers = TaskUsers.resolve(this.config.runAs, this.config.concurrency, this.logger);
    this.prepareDirectories();
    this.resources = await collectResources(this.config.workDir);
    this.resourcesAt = Date.now();
    const identity = await this.withRetry('register', () => loadOrRegisterIdentity(this.config, this.resources, Outbox.queuedIds(this.config.stateDir)));
    this.name = identity.name;
    this.api = new WorkerServerApi(this.config.servers, identity.token, (from, to) => this.logger.warn({ from, to }, 'server unreachable; moving to the next one'));
    this.spool = new LogSpool(path.join(this.config.stateDir, 'logs'));
    // A delivered report frees its slot on the server: a claim waiting for one may go.
    this.outbox = new Outbox(this.config.stateDir, this.api, this.spool, this.logger, () => this.slotFreed?.());
    const measurement = await detectMeasurementMethod();
    this.logger.info({ worker: this.name, workerId: identity.workerId, server: this.config.server }, describeIdentity(identity));
    this.logger.info({ worker: this.name, server: this.config.server, servers: this.config.servers, concurrency: this.config.concurrency, measurement }, 'worker started');
    this.loops = [
      this.outbox.run(this.stopBackground.signal),
      this.heartbeatLoop(),
      this.claimLoop(),
    ];
  }

  /**
   * The work dir may be passed through but not listed (a task cannot find another's directory by name); the
   * state dir (token, outbox, log spool) is the worker's alone. Tasks under another user must be able to reach
   * their working directories: under a work dir they cannot reach (inside root's mode-700 home, say), those go
   * to a directory of the worker's under the system temp dir instead.
   */
  private prepareDirectories(): void {
    const { workDir, stateDir } = this.config;
    fs.mkdirSync(workDir, { recursive: true });
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.taskRoot = workDir;
    if (!this.taskUsers.separate) return;
    fs.chmodSync(workDir, 0o711);
    fs.chmodSync(stateDir, 0o700);
    const probe = this.taskUsers.acquire();
    this.taskUsers.release(probe);
    if (!probe) return;
    const blocked = firstUnreachableDirectory(workDir, probe);
    if (!blocked) return;
    const fallback = path.join(os.tmpdir(), `worksched-tasks-${createHash('sha256').update(workDir).digest('hex').slice(0, 12)}`);
    fs.mkdirSync(fallback, { recursive: true, mode: 0o711 });
    fs.chmodSync(fallback, 0o711);
    const stillBlocked = firstUnreachableDirectory(fallback, probe);
    if (stillBlocked) {
      throw new WorkerConfigError(
        `tasks run as ${probe.name} can reach neither the work dir ${workDir} (${blocked} is closed to them) nor ${fallback} (${stillBlocked}); ` +
          'choose a --work-dir they can pass through, such as one under /var/lib',
      );
    }
    this.logger.info({ workDir, taskRoot: fallback, blocked }, `tasks run as ${probe.name} cannot pass through ${blocked}: their working directories go to ${fallback}`);
    this.taskRoot = fallback;
  }

  /** Graceful stop: drain for up to `drainTimeoutS`, then kill what still runs and hand it back. */
  stop(): Promise<StopSummary> {
    this.stopping ??= this.drainAndStop();
    return this.stopping;
  }

  /** Second signal: kill every task now and hand it back, giving the server a few seconds to take the reports. */
  async stopNow(): Promise<StopSummary> {
    this.stopClaiming.abort();
    this.stopBackground.abort();
    for (const active of this.active.values()) active.task.kill('shutdown');
    // Each settles once its report is on disk; then they go in one call (or stay on disk when the server does not answer).
    const handedBack = Promise.allSettled([...this.active.values()].map((active) => active.settled ?? Promise.resolve())).then(() => this.outbox.send().catch(() => false));
    await Promise.race([handedBack, sleep(STOP_NOW_HANDBACK_MS)]);
    return this.summary();
  }

  private summary(): StopSummary {
    return { ...this.stopCounts, undelivered: this.outbox?.pendingCount() ?? 0 };
  }

  runningIds(): number[] {
    return [...this.active.keys()];
  }

  private async drainAndStop(): Promise<StopSummary> {
    this.stopClaiming.abort();
    this.logger.info({ running: this.active.size, drainTimeoutS: this.config.drainTimeoutS }, 'stopping: no new work; waiting for running tasks');
    const drained = this.allTasksDone();
    const timedOut = await Promise.race([drained.then(() => false), sleep(this.config.drainTimeoutS * 1000).then(() => true)]);
    if (timedOut) {
      this.logger.warn({ running: this.runningIds() }, 'drain timeout: killing running tasks and giving them back to the server');
      for (const active of this.active.values()) active.task.kill('shutdown');
      await drained;
    }
    this.stopBackground.abort();
    await Promise.allSettled(this.loops);
    const empty = (await this.outbox?.drainOnce().catch(() => false)) ?? true;
    if (!empty) this.logger.warn({ queued: this.outbox.pendingCount() }, 'some results could not be delivered; they stay on disk and are sent at the next start');
    taskSpawner.close();
    return this.summary();
  }

  private async allTasksDone(): Promise<void> {
    while (this.active.size > 0) {
      await Promise.allSettled([...this.active.values()].map((active) => active.task.done));
      await sleep(10);
    }
  }

  private async claimLoop(): Promise<void> {
    const backoff = new Backoff();
    const signal = this.stopClaiming.signal;
    while (!signal.aborted) {
      // Ready reports ride on the claim; a report the server has not answered yet still holds its slot there.
      const carried = this.outbox.takeForClaim(MAX_RESULTS_PER_CALL);
      const free = this.config.concurrency - this.active.size - (this.outbox.pendingCount() - carried.length);
      if (free <= 0) {
        this.outbox.returnCarried(carried);
        await new Promise<void>((resolve) => {
          // One listener per wait, removed after it: a busy agent waits thousands of times.
          const onAbort = () => resolve();
          this.slotFreed = () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
        this.slotFreed = null;
        continue;
      }
      try {
        const answer = await this.api.claim(free, this.config.claimWaitS, signal, carried.map(toCompletionItem));
        this.outbox.settleCarried(carried, answer.results);
        backoff.reset();
        for (const request of answer.work_requests) this.run(request);
      } catch (error) {
        this.outbox.returnCarried(carried);
        if (signal.aborted) break;
        this.logger.warn({ err: describe(error) }, 'claim failed; retrying with back-off');
        await sleep(backoff.nextDelayMs(), signal);
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    // Short cap: after a server restart the heartbeat must arrive well within the server's timeout.
    const backoff = new Backoff(500, 2_000);
    const signal = this.stopBackground.signal;
    while (!signal.aborted) {
      let delay = this.heartbeatIntervalMs;
      try {
        const refresh = Date.now() - this.resourcesAt >= RESOURCE_REFRESH_MS;
        if (refresh) {
          this.resources = await collectResources(this.config.workDir, { includeStatic: false }).then((fresh) => ({ ...this.resources, ...fresh, os: this.resources.os, gpus: this.resources.gpus }));
          this.resourcesAt = Date.now();
        }
        // Results still in the outbox count as running: the server must not requeue what already finished here.
        const running = [...new Set([...this.runningIds(), ...this.outbox.pendingIds()])];
        // With each resource refresh (and the first beat), the settings this run was started with.
        const settings = refresh || !this.settingsSent
          ? { resources: this.resources, concurrency: this.config.concurrency, tags: this.config.tags, cost_per_hour: this.config.costPerHour ?? null }
          : {};
        const answer = await this.api.heartbeat({ running, ...settings });
        this.settingsSent = true;
        this.heartbeatIntervalMs = Math.min(MAX_HEARTBEAT_INTERVAL_MS, answer.heartbeat_interval_s * 1000);
        const preempted = new Set(answer.preempted ?? []);
        for (const id of answer.cancel) {
          if (preempted.has(id)) this.preempt(id);
          else this.cancel(id, 'the server asked to stop it');
        }
        backoff.reset();
      } catch (error) {
        if (hasErrorCode(error, 'unauthorized')) {
          this.logger.error('the server no longer accepts this worker token (revoked, worker deleted or disabled); still retrying');
        } else {
          this.logger.warn({ err: describe(error) }, 'heartbeat failed; tasks keep running');
        }
        delay = backoff.nextDelayMs();
      }
      await sleep(delay, signal);
    }
  }

  /** The server requeued it for a higher-priority request: stop it (full kill grace) and report nothing. */
  private preempt(id: number): void {
    const active = this.active.get(id);
    if (!active || active.preempted) return;
    active.preempted = true;
    this.logger.info({ workRequest: id }, 'task preempted by the server for a higher-priority request: stopping it');
    if (!active.cancelled) active.task.kill('preempted');
    active.cancelled = true;
  }

  private cancel(id: number, why: string): void {
    const active = this.active.get(id);
    if (!active || active.cancelled) return;
    active.cancelled = true;
    this.logger.info({ workRequest: id, why }, 'cancelling task');
    active.task.kill('cancelled');
  }

  private run(request: ClaimedWorkRequest): void {
    // Preempted here and handed back to this worker before its old run is gone: start once that run has ended.
    const previous = this.active.get(request.id);
    if (previous) {
      void (previous.settled ?? previous.task.done).finally(() => this.run(request));
      return;
    }
    const shipper = new LogShipper(this.api, this.spool, request.id, request.log_seq_start, () => this.cancel(request.id, 'cancelled'), this.logger, this.config.logMaxBytes, () => this.preempt(request.id));
    const runAs = this.taskUsers.acquire();
    const task = startTask({
      runAs,
      workRequest: request,
      workRoot: this.taskRoot,
      keepWorkdir: this.config.keepWorkdirs,
      killGraceMs: this.config.killGraceS * 1000,
      passEnv: this.config.passEnv,
      workerSnapshot: {
        available_disk_space: this.resources.available_disk_space,
        available_memory: this.resources.available_memory,
        cpu_count: this.resources.cpu_count,
      },
      onOutput: (stream, text) => shipper.push(stream, text),
    });
    const active: ActiveTask = { request, task, shipper, cancelled: false };
    this.active.set(request.id, active);
    this.logger.info({ workRequest: request.id, task: request.task_name, attempt: request.attempt }, 'task started');
    active.settled = task.done
      .then((outcome) => this.finish(active, outcome))
      .catch((error: unknown) => this.logger.error({ err: error, workRequest: request.id }, 'task bookkeeping failed'))
      .finally(() => {
        this.taskUsers.release(runAs);
        this.active.delete(request.id);
        // A claim waiting for this slot carries the report; otherwise it goes at once on its own.
        this.slotFreed?.();
        this.outbox.sendSoon();
      });
  }

  private async finish(active: ActiveTask, outcome: TaskOutcome): Promise<void> {
    const { request } = active;
    // A report to the server carries the log's last entries (not a hand-back or a preempted run's end).
    const carry = outcome.result !== 'aborted' && !active.preempted;
    const { acknowledgedSeq, carried } = await active.shipper.close({ carry });
    const output: OutputData = outcome.output_data;
    this.logger.info({ workRequest: request.id, result: outcome.result, statistics: output.runtime_statistics }, 'task finished');
    if (active.preempted) {
      // The server already put it back to pending (same attempt): nothing to report, it neither failed nor was cancelled.
      this.logger.info({ workRequest: request.id }, 'preempted task stopped; the server runs it again later');
      this.spool.remove(request.id);
      return;
    }
    if (outcome.result === 'aborted') {
      const shutdown = output.errors?.some((error) => error.code === ERROR_CODES.workerShutdown);
      if (shutdown) {
        this.stopCounts.handedBack += 1;
        await this.outbox.store({ kind: 'release', id: request.id, acknowledged_seq: acknowledgedSeq, body: { reason: 'the worker is shutting down', output_data: output } });
        return;
      }
      // Cancelled: the server already marked it aborted; this only records the killed run's statistics.
      await this.outbox.store({ kind: 'complete', id: request.id, acknowledged_seq: acknowledgedSeq, body: { result: 'failure', output_data: output } });
      return;
    }
    if (this.stopClaiming.signal.aborted) this.stopCounts.finished += 1;
    await this.outbox.store({
      kind: 'complete',
      id: request.id,
      acknowledged_seq: acknowledgedSeq,
      body: { result: outcome.result, output_data: output },
      ...(carried.length > 0 ? { logs: carried } : {}),
    });
  }

  private async withRetry<T>(what: string, action: () => Promise<T>): Promise<T> {
    const backoff = new Backoff();
    for (;;) {
      try {
        return await action();
      } catch (error) {
        // Only an unreachable or failing server is worth waiting for; anything else (no token to register with,
        // a name taken, a 4xx) will not fix itself and must stop the worker with its message.
        if (!isTransient(error) || this.stopClaiming.signal.aborted) throw error;
        this.logger.warn({ err: describe(error) }, `${what} failed; the server may not be up yet, retrying`);
        await sleep(backoff.nextDelayMs(), this.stopClaiming.signal);
      }
    }
  }
}

function describeIdentity(identity: LoadedIdentity): string {
  if (identity.source === 'saved') return `reusing the saved identity of worker ${identity.workerId} (${identity.name})`;
  if (identity.source === 'registered') return `registered as worker ${identity.workerId} (${identity.name})`;
  return `using the worker token given (--token or WORKSCHED_WORKER_TOKEN) as ${identity.name}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
