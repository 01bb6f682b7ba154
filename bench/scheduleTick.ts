/**
 * Scenario 9: the schedules tick with 1,000 enabled schedules (BENCH_SCHEDULES). Each is a cron schedule firing
 * once a minute at its own second (`S * * * * *`, S = its index mod 60), so about 17 are due at each tick and
 * create their work request, as a thousand minutely jobs spread over the minute would. The server's own
 * housekeeping is stopped and the tick is run by hand just after each second, timed for BENCH_SCHEDULE_TICKS
 * ticks (30 by default); then the cost of a tick with nothing due. Target: p95 ≤ 50 ms.
 */
import { taskSpecSchema } from '../protocol/taskSpec';
import { nextFireTimeOf } from '../server/schedules/fireTimes';
import { calibrate, Cleanup, NOOP_SPEC, progress, startBenchServer, type BenchPostgres } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { ms, summarize } from './lib/stats';

const SCHEDULES = Number(process.env.BENCH_SCHEDULES ?? 1_000);
const TICKS = Number(process.env.BENCH_SCHEDULE_TICKS ?? 30);
const TARGET_MS = 50;
const SCENARIO = '9 schedules tick';

export async function runScheduleTick(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'schedules');
    // The tick is timed by hand: the server's own per-second tick would take the due schedules first.
    await bench.server.housekeeping.stop();
    const spec = JSON.stringify(taskSpecSchema.parse(NOOP_SPEC));
    const now = new Date();
    const names: string[] = [];
    const triggers: string[] = [];
    const nexts: Date[] = [];
    for (let index = 0; index < SCHEDULES; index += 1) {
      const trigger = { cron: `${index % 60} * * * * *`, timezone: 'UTC' };
      names.push(`bench-schedule-${index}`);
      triggers.push(JSON.stringify(trigger));
      nexts.push(nextFireTimeOf(trigger)!(now));
    }
    await bench.sql.query(
      `insert into schedule (name, trigger, spec, overlap, catch_up, enabled, next_fire_at, created_at, updated_at)
       select n, t::jsonb, $3::json, 'allow', 'none', true, f, now(), now() from unnest($1::text[], $2::text[], $4::timestamptz[]) as s(n, t, f)`,
      [names, triggers, spec, nexts],
    );
    await bench.sql.query('analyze schedule');
    progress(`${SCHEDULES.toLocaleString('en-US')} enabled cron schedules (each once a minute at its own second); timing ${TICKS} ticks`);

    const busy: number[] = [];
    // This process's CPU during a tick (user + system; the event loop may run other work meanwhile, little here):
    // less sensitive than wall time to a machine shared with other jobs.
    const cpu: number[] = [];
    const idle: number[] = [];
    let fired = 0;
    for (let tick = 0; tick < TICKS; tick += 1) {
      // Just after the second turns, as the server's cron tick runs.
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const report = await bench.server.housekeeping.fireSchedulesOnce();
      busy.push(performance.now() - started);
      const cpuUsed = process.cpuUsage(cpuBefore);
      cpu.push((cpuUsed.user + cpuUsed.system) / 1000);
      fired += report.fired;
      const again = performance.now();
      await bench.server.housekeeping.fireSchedulesOnce();
      idle.push(performance.now() - again);
    }
    // The tick is about a dozen round trips and two commits (one flushes the WAL): the floor says what one costs here.
    const floor = await calibrate(bench, 100);
    progress(floor.line);
    const created = Number((await bench.sql.query<{ n: string }>(`select count(*) as n from work_request where schedule is not null`)).rows[0].n);
    const tickSummary = summarize(busy);
    const idleSummary = summarize(idle);
    const cpuSummary = summarize(cpu);
    const line = `tick with ${SCHEDULES.toLocaleString('en-US')} enabled schedules, ~${(fired / TICKS).toFixed(1)} firing per tick: p50 ${ms(tickSummary.p50)}, p95 ${ms(tickSummary.p95)}, max ${ms(tickSummary.max)}; server CPU per tick p50 ${ms(cpuSummary.p50)}; nothing due: p50 ${ms(idleSummary.p50)}`;
    progress(line);
    if (created !== fired) throw new Error(`the ticks fired ${fired} times but ${created} work requests carry a schedule`);
    return {
      rows: [
        { scenario: SCENARIO, metric: `tick p95, ${SCHEDULES.toLocaleString('en-US')} schedules, ~${(fired / TICKS).toFixed(0)} firing/tick`, value: ms(tickSummary.p95), target: `≤ ${TARGET_MS} ms`, met: tickSummary.p95 <= TARGET_MS },
        { scenario: SCENARIO, metric: 'tick p50 / max', value: `${ms(tickSummary.p50)} / ${ms(tickSummary.max)}` },
        { scenario: SCENARIO, metric: 'server CPU per tick, p50 / p95', value: `${ms(cpuSummary.p50)} / ${ms(cpuSummary.p95)}` },
        { scenario: SCENARIO, metric: 'tick with nothing due, p50', value: ms(idleSummary.p50) },
        { scenario: SCENARIO, metric: 'floor p50: select 1 round trip', value: ms(floor.sqlP50) },
      ],
      notes: [`${SCENARIO}: ${line}`],
    };
  } finally {
    await cleanup.runAll();
  }
}
