import { Migration } from '@mikro-orm/migrations';

/** Task history (one row per finished attempt), per-key counters, and why a pending request is unschedulable. */
export class Migration20261121010000_task_history extends Migration {

  override up(): void {
    this.addSql(`create table "task_history" ("id" bigserial primary key, "task_name" varchar(255) not null, "subject" text not null default '', "context" text not null default '', "work_request_id" bigint null, "attempt" int not null, "result" text check ("result" in ('success', 'failure', 'error', 'skipped')) not null, "error_code" varchar(255) null, "worker_id" bigint null, "worker_name" varchar(255) null, "worker_cpu_count" int null, "worker_total_memory" bigint null, "duration_ms" bigint null, "cpu_time_ms" bigint null, "memory" bigint null, "disk_space" bigint null, "available_memory" bigint null, "available_disk_space" bigint null, "cpu_count" int null, "measurement" varchar(255) null, "started_at" timestamptz null, "completed_at" timestamptz not null);`);
    // Lookups by key, newest first; learned requirements read the successful runs of one key.
    this.addSql(`create index "task_history_key_idx" on "task_history" ("task_name", "subject", "context", "completed_at" desc, "id" desc);`);
    this.addSql(`create index "task_history_success_idx" on "task_history" ("task_name", "subject", "context", "completed_at" desc) where "result" = 'success';`);
    this.addSql(`create index "task_history_worker_idx" on "task_history" ("worker_id", "completed_at");`);

    this.addSql(`create table "task_key" ("id" bigserial primary key, "task_name" varchar(255) not null, "subject" text not null default '', "context" text not null default '', "runs" int not null default 0, "successes" int not null default 0, "failures" int not null default 0, "last_run_at" timestamptz null, "last_success_at" timestamptz null, "last_failure_at" timestamptz null);`);
    this.addSql(`alter table "task_key" add constraint "task_key_task_name_subject_context_unique" unique ("task_name", "subject", "context");`);
    this.addSql(`create index "task_key_last_run_idx" on "task_key" ("last_run_at" desc);`);

    this.addSql(`alter table "work_request" add column "unschedulable_reason" text null;`);
  }

  override down(): void {
    this.addSql(`alter table "work_request" drop column "unschedulable_reason";`);
    this.addSql(`drop table if exists "task_key";`);
    this.addSql(`drop table if exists "task_history";`);
  }

}
