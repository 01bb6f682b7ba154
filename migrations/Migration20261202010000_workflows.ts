import { Migration } from '@mikro-orm/migrations';

/**
 * Workflows: the workflow table (keyed by the caller's workflow_id), each work request's workflow, task_id and
 * allow_failure, and the graph as edges between task ids (workflow_dependency). Hand-written: the generator
 * knows nothing of deferrable exclusion constraints or partial indexes. No foreign keys to workflow: a
 * 10,000-task create would run 30,000 referential checks; only the workflow code writes these rows, and
 * deleting a workflow deletes its requests and edges itself.
 */
export class Migration20261202010000_workflows extends Migration {

  override up(): void {
    this.addSql(`create table "workflow" ("workflow_id" varchar(200) not null, "status" text check ("status" in ('PENDING', 'RUNNING', 'SUCCESSFUL', 'FAILED', 'RESUMABLE', 'CANCELED')) not null, "status_reason" text null, "open" boolean not null default false, "user_metadata" jsonb not null, "priority" int not null default 0, "max_running" int null, "budget" varchar(255) null, "on_budget" varchar(255) not null default 'pause', "max_cost_per_result" double precision null, "max_price_warmup_s" int not null default 300, "definition_hash" varchar(64) not null, "start_time" timestamptz null, "end_time" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "workflow_pkey" primary key ("workflow_id"));`);
    // Listing: newest first, optionally by status.
    this.addSql(`create index "workflow_created_idx" on "workflow" ("created_at" desc, "workflow_id" desc);`);
    this.addSql(`create index "workflow_status_created_idx" on "workflow" ("status", "created_at" desc, "workflow_id" desc);`);

    this.addSql(`create table "workflow_dependency" ("workflow_id" varchar(200) not null, "task_id" varchar(200) not null, "depends_on" varchar(200) not null, constraint "workflow_dependency_pkey" primary key ("workflow_id", "task_id", "depends_on"));`);
    // A finished task's direct dependants: one index range, so unblocking costs O(direct dependants).
    this.addSql(`create index "workflow_dependency_depends_on_idx" on "workflow_dependency" ("workflow_id", "depends_on");`);

    this.addSql(`alter table "work_request" alter column "workflow_id" type varchar(200) using "workflow_id"::text;`);
    this.addSql(`alter table "work_request" add column "task_id" varchar(200) null, add column "allow_failure" boolean not null default false;`);
    // One current attempt per task: a retry's row is inserted before the attempt it supersedes points at it,
    // so the check waits for the commit. Its index also finds a task's current attempt by (workflow, task_id).
    this.addSql(`alter table "work_request" add constraint "work_request_current_task_excl" exclude using btree ("workflow_id" with =, "task_id" with =) where ("task_id" is not null and "superseded_by_id" is null) deferrable initially deferred;`);
    // Is anything of the workflow still active? GET ?workflow= listings.
    this.addSql(`create index "work_request_workflow_status_idx" on "work_request" ("workflow_id", "status") where "workflow_id" is not null;`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_workflow_status_idx";`);
    this.addSql(`alter table "work_request" drop constraint if exists "work_request_current_task_excl";`);
    this.addSql(`alter table "work_request" drop column "task_id", drop column "allow_failure";`);
    this.addSql(`update "work_request" set "workflow_id" = null;`);
    this.addSql(`alter table "work_request" alter column "workflow_id" type bigint using null;`);
    this.addSql(`drop table if exists "workflow_dependency";`);
    this.addSql(`drop table if exists "workflow";`);
  }

}
