import { Migration } from '@mikro-orm/migrations';

/**
 * Expected start/finish of waiting work (work_request_eta), per-key efficiency (task_key), preemption
 * (work_request). Hand-written: the generator knows nothing of partial or expression indexes.
 */
export class Migration20261202050000_eta_efficiency_preemption extends Migration {

  override up(): void {
    // Its own narrow table, not columns of work_request: the housekeeping pass rewrites many of these at a time,
    // and updating pending work_request rows would row-lock them, so concurrent claims (SKIP LOCKED) would pass
    // them over and claim out of order. No foreign key: its per-row check would be most of the cost of writing
    // 100,000 estimates; the writer joins work_request instead, and work requests are not deleted.
    this.addSql(`create table "work_request_eta" ("work_request_id" bigint primary key, "expected_start_at" timestamptz null, "expected_end_at" timestamptz null, "eta_reason" text not null, "computed_at" timestamptz not null);`);

    this.addSql(`alter table "work_request" add column "preempted_at" timestamptz null, add column "reserved_worker_id" bigint null, add column "reserved_until" timestamptz null;`);
    // The claim's reservation check: "does a pending request hold a slot on this worker?" — almost always empty.
    this.addSql(`create index "work_request_reserved_idx" on "work_request" ("reserved_worker_id") where "status" = 'pending' and "reserved_worker_id" is not null;`);

    this.addSql(`alter table "task_key" add column "asked_memory" bigint null, add column "used_memory_p95" double precision null, add column "suggested_memory" bigint null, add column "asked_cpu" int null, add column "used_cpu_p95" double precision null, add column "suggested_cpu" int null, add column "efficiency_runs" int not null default 0, add column "mean_duration_ms" double precision null, add column "memory_waste" double precision null, add column "cpu_waste" double precision null, add column "efficiency_at" timestamptz null;`);
    // sort=-memory_waste / -cpu_waste of GET /statistics/tasks (server/statistics/taskKeyOrder.ts repeats these expressions).
    this.addSql(`create index "task_key_memory_waste_idx" on "task_key" ((coalesce("memory_waste", -1)), "id");`);
    this.addSql(`create index "task_key_cpu_waste_idx" on "task_key" ((coalesce("cpu_waste", -1)), "id");`);
  }

  override down(): void {
    this.addSql(`drop index if exists "task_key_cpu_waste_idx";`);
    this.addSql(`drop index if exists "task_key_memory_waste_idx";`);
    this.addSql(`alter table "task_key" drop column "asked_memory", drop column "used_memory_p95", drop column "suggested_memory", drop column "asked_cpu", drop column "used_cpu_p95", drop column "suggested_cpu", drop column "efficiency_runs", drop column "mean_duration_ms", drop column "memory_waste", drop column "cpu_waste", drop column "efficiency_at";`);
    this.addSql(`drop index if exists "work_request_reserved_idx";`);
    this.addSql(`alter table "work_request" drop column "preempted_at", drop column "reserved_worker_id", drop column "reserved_until";`);
    this.addSql(`drop table if exists "work_request_eta";`);
  }

}
