import { Migration } from '@mikro-orm/migrations';

/**
 * GET /statistics/workers over a week read every run of the week (~1/4 of a month's history, 170 ms at 1M rows):
 * runs, failures and busy time per worker per UTC hour let it read the window's whole hours from here and only
 * its two partial hours from task_history. Completions queue the figures with the key's increment
 * (task_key_increment, so no shared row is locked by completions); the roll-up folds them in and retention
 * subtracts what it prunes. Filled from the existing history (increments still queued carry no worker, so they
 * are not counted twice). busy_ms is numeric so sums equal the raw computation exactly.
 */
export class Migration20261202100000_worker_hour_statistics extends Migration {

  override up(): void {
    this.addSql(`create table "worker_hour_statistics" ("worker_id" bigint not null, "hour" timestamptz not null, "runs" bigint not null default 0, "failures" bigint not null default 0, "busy_ms" numeric not null default 0, constraint "worker_hour_statistics_pkey" primary key ("worker_id", "hour"));`);
    this.addSql(`alter table "task_key_increment" add column "worker_id" bigint null, add column "busy_ms" numeric null;`);
    this.addSql(`insert into "worker_hour_statistics" ("worker_id", "hour", "runs", "failures", "busy_ms")
      select worker_id, date_trunc('hour', completed_at, 'UTC'), count(*), count(*) filter (where result in ('failure', 'error')),
        coalesce(sum(coalesce(duration_ms::numeric, extract(epoch from completed_at - started_at) * 1000)), 0)
      from "task_history" where worker_id is not null group by 1, 2;`);
  }

  override down(): void {
    this.addSql(`alter table "task_key_increment" drop column "worker_id", drop column "busy_ms";`);
    this.addSql(`drop table if exists "worker_hour_statistics";`);
  }

}
