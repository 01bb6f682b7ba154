/**
 * What the pg-boss and graphile-worker runs share: the four measurements, each written once so that both peers
 * are measured the same way. A peer supplies how to enqueue and how many of its jobs are still not done; its
 * handler reports each job it starts with `JobStarts.started(i)` (`i`: the job's sequence number in its payload).
 */
import { sleep } from '../../common/sleep';
import { progress } from '../lib/harness';
import type { Figures } from '../lib/compared';
import { COMPARED_BATCH, COMPARED_LATENCY_MEASURED, COMPARED_LATENCY_WARMUP, COMPARED_SEQUENTIAL_ROUNDS, COMPARED_SEQUENTIAL_WARMUP } from '../lib/compared';
import { CpuMeter, describeLatency, rate, summarize, type Summary } from '../lib/stats';

export interface PeerResult {
  /** 'pg-boss 12.35.0'. */
  name: string;
  figures: Figures;
  /** How it was configured, for the notes under the summary. */
  config: string;
  /** Detail lines (CPU, counts), already printed as progress. */
  lines: string[];
  /** The one-at-a-time enqueue, measured later beside the others' (measureSequentialEnqueues); usable until cleanup. */
  sequential: SequentialEnqueuer;
}

/** The handler's side: when each job started, and waiting for a number of starts. */
export class JobStarts {
  readonly at = new Map<number, number>();
  count = 0;
  firstAt = 0;
  private waiter: { count: number; resolve: () => void } | undefined;

  started(i: number): void {
    const now = performance.now();
    if (this.count === 0) this.firstAt = now;
    this.count += 1;
    this.at.set(i, now);
    if (this.waiter && this.count >= this.waiter.count) this.waiter.resolve();
  }

  reset(): void {
    this.at.clear();
    this.count = 0;
    this.firstAt = 0;
  }

  /** Resolves once `count` jobs have started; rejects after `limitMs`. */
  async waitFor(count: number, limitMs: number, what: string): Promise<void> {
    if (this.count >= count) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => (this.waiter = { count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what}: ${this.count} of ${count} jobs started within ${limitMs / 1000} s`)), limitMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
    }
  }
}

/** `total` jobs in batches of COMPARED_BATCH, one batch after another: jobs/s. */
export async function measureBatchEnqueue(name: string, total: number, enqueueBatch: (from: number, count: number) => Promise<void>): Promise<{ perS: number; line: string }> {
  const meter = new CpuMeter();
  const start = performance.now();
  for (let from = 0; from < total; from += COMPARED_BATCH) await enqueueBatch(from, Math.min(COMPARED_BATCH, total - from));
  const seconds = (performance.now() - start) / 1000;
  const line = `${name}: ${total.toLocaleString('en-US')} enqueued in batches of ${COMPARED_BATCH.toLocaleString('en-US')} in ${seconds.toFixed(2)} s = ${rate(total / seconds)}; ${meter.describe(total)}`;
  progress(line);
  return { perS: total / seconds, line };
}

/** One contender of the sequential enqueue: worksched's create route or a peer's one-job enqueue. */
export interface SequentialEnqueuer {
  name: string;
  /** Adds one job that nothing runs while the measurement lasts. */
  enqueueOne: (i: number) => Promise<void>;
}

/**
 * One-at-a-time enqueues, each awaited before the next, for every contender in turn: COMPARED_SEQUENTIAL_WARMUP
 * untimed each, then COMPARED_SEQUENTIAL_ROUNDS rounds of `count` each, the order rotating every round. On a shared
 * machine the rate of the same code moves by 2× within minutes; measured back to back, round by round, every
 * contender meets the same moments. A contender's rate is all its timed enqueues over all its timed seconds.
 */
export async function measureSequentialEnqueues(contenders: readonly SequentialEnqueuer[], count: number): Promise<Map<string, { perS: number; line: string }>> {
  for (const contender of contenders) {
    for (let i = 0; i < COMPARED_SEQUENTIAL_WARMUP; i += 1) await contender.enqueueOne(count * COMPARED_SEQUENTIAL_ROUNDS + i);
  }
  const timed = new Map(contenders.map((contender) => [contender.name, { times: [] as number[], seconds: 0, rounds: [] as string[], nodeMs: 0, postgresMs: 0 }]));
  for (let round = 0; round < COMPARED_SEQUENTIAL_ROUNDS; round += 1) {
    const rates: string[] = [];
    for (let k = 0; k < contenders.length; k += 1) {
      const contender = contenders[(round + k) % contenders.length];
      const into = timed.get(contender.name)!;
      const meter = new CpuMeter();
      const start = performance.now();
      for (let i = 0; i < count; i += 1) {
        const before = performance.now();
        await contender.enqueueOne(round * count + i);
        into.times.push(performance.now() - before);
      }
      const seconds = (performance.now() - start) / 1000;
      const cpu = meter.perUnitMs(1);
      into.nodeMs += cpu.node;
      into.postgresMs += cpu.postgres;
      into.seconds += seconds;
      into.rounds.push(rate(count / seconds));
      rates.push(`${contender.name} ${rate(count / seconds)}`);
    }
    progress(`  sequential enqueue, round ${round + 1} of ${COMPARED_SEQUENTIAL_ROUNDS}: ${rates.join(', ')}`);
  }
  const results = new Map<string, { perS: number; line: string }>();
  for (const [name, into] of timed) {
    const n = into.times.length;
    const line =
      `${name}: ${n.toLocaleString('en-US')} one at a time, sequentially, in ${COMPARED_SEQUENTIAL_ROUNDS} rounds alternating with the others (${into.rounds.join(', ')}), ` +
      `${into.seconds.toFixed(2)} s = ${rate(n / into.seconds)}; call ${describeLatency(summarize(into.times))}; ` +
      `CPU per request: node ${(into.nodeMs / n).toFixed(2)} ms + postgres ${Number.isFinite(into.postgresMs) ? (into.postgresMs / n).toFixed(2) : '?'} ms`;
    progress(line);
    results.set(name, { perS: n / into.seconds, line });
  }
  return results;
}

/**
 * The drain: `startWorkers` starts the peer's workers on `total` pre-enqueued jobs. The clock runs from the first
 * job's start to the moment the peer's tables hold no unfinished job (`remaining()`, polled every 10 ms once every
 * job has started): the completions of the last batch are in.
 */
export async function measureDrain(
  name: string,
  total: number,
  starts: JobStarts,
  startWorkers: () => Promise<void>,
  remaining: () => Promise<number>,
  limitMs: number,
): Promise<{ perS: number; line: string }> {
  starts.reset();
  const meter = new CpuMeter();
  await startWorkers();
  await starts.waitFor(total, limitMs, `${name} drain`);
  const deadline = performance.now() + 30_000;
  let left = await remaining();
  while (left > 0) {
    if (performance.now() > deadline) throw new Error(`${name} drain: ${left} jobs still unfinished 30 s after all had started`);
    await sleep(10);
    left = await remaining();
  }
  const seconds = (performance.now() - starts.firstAt) / 1000;
  const line = `${name}: drained ${total.toLocaleString('en-US')} pre-enqueued no-ops in ${seconds.toFixed(2)} s = ${rate(total / seconds)} (first start → all completed); ${meter.describe(total)}`;
  progress(line);
  return { perS: total / seconds, line };
}

/**
 * Enqueue→start latency with idle workers: COMPARED_LATENCY_WARMUP, then COMPARED_LATENCY_MEASURED jobs, one at a
 * time with a random 5–20 ms gap (as bench/latency.ts does for worksched); from just before the enqueue call to the
 * handler's start.
 */
export async function measureLatency(name: string, starts: JobStarts, enqueueOne: (i: number) => Promise<void>): Promise<{ summary: Summary; line: string }> {
  starts.reset();
  await sleep(500); // the workers are idle, waiting
  const sent = new Map<number, number>();
  const total = COMPARED_LATENCY_WARMUP + COMPARED_LATENCY_MEASURED;
  for (let i = 0; i < total; i += 1) {
    await sleep(5 + Math.random() * 15);
    sent.set(i, performance.now());
    await enqueueOne(i);
  }
  await starts.waitFor(total, 30_000, `${name} latency`);
  const latencies: number[] = [];
  for (let i = COMPARED_LATENCY_WARMUP; i < total; i += 1) latencies.push(starts.at.get(i)! - sent.get(i)!);
  const summary = summarize(latencies);
  const line = `${name}: enqueue→start with idle workers ${describeLatency(summary)}`;
  progress(line);
  return { summary, line };
}
