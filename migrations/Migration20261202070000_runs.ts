import { Migration } from '@mikro-orm/migrations';

/**
 * Runs, costs and budgets: each attempt's cost (work_request, task_history, and summed per task key with the
 * key's mean duration, which is the expected duration of its next attempt), and two per-run ledgers written at
 * completion so that neither the claim's budget check nor a run's tables ever sum its whole history:
 * workflow_worker (one row per worker in a run: tasks, results, cost, work time, why it was stopped) and
 * workflow_spend (the run's spend in buckets of 1/60 of its budget window).
 */
export class Migration20261202070000_runs extends Migration {

  override up(): void {
    this.addSql(`alter table "work_request" add column "cost" double precision null;`);
    this.addSql(`alter table "task_history" add column "cost" double precision null;`);
    this.addSql(`alter table "task_key_increment" add column "cost" double precision null, add column "duration_ms" bigint null;`);
    this.addSql(`alter table "task_key" add column "cost" double precision not null default 0, add column "timed_runs" int not null default 0, add column "duration_ms_sum" bigint not null default 0;`);
    this.addSql(`create table "workflow_worker" ("workflow_id" varchar(200) not null, "worker_id" bigint not null, "tasks" int not null default 0, "successes" int not null default 0, "results" bigint not null default 0, "cost" double precision not null default 0, "work_ms" bigint not null default 0, "stop_reason" text null, "stopped_at" timestamptz null, constraint "workflow_worker_pkey" primary key ("workflow_id", "worker_id"));`);
    this.addSql(`alter table "workflow_worker" add constraint "workflow_worker_workflow_id_foreign" foreign key ("workflow_id") references "workflow" ("workflow_id") on delete cascade;`);
    this.addSql(`create table "workflow_spend" ("workflow_id" varchar(200) not null, "bucket_start" timestamptz not null, "cost" double precision not null default 0, constraint "workflow_spend_pkey" primary key ("workflow_id", "bucket_start"));`);
    this.addSql(`alter table "workflow_spend" add constraint "workflow_spend_workflow_id_foreign" foreign key ("workflow_id") references "workflow" ("workflow_id") on delete cascade;`);
    // Why a budgeted run waits, and when it may go on: written when it pauses, cleared when it resumes.
    this.addSql(`alter table "workflow" add column "budget_reason" text null, add column "budget_frees_at" timestamptz null;`);
  }

  override down(): void {
    this.addSql(`alter table "workflow" drop column "budget_reason", drop column "budget_frees_at";`);
    this.addSql(`drop table if exists "workflow_spend";`);
    this.addSql(`drop table if exists "workflow_worker";`);
    this.addSql(`alter table "task_key" drop column "cost", drop column "timed_runs", drop column "duration_ms_sum";`);
    this.addSql(`alter table "task_key_increment" drop column "cost", drop column "duration_ms";`);
    this.addSql(`alter table "task_history" drop column "cost";`);
    this.addSql(`alter table "work_request" drop column "cost";`);
  }

}
