import { Migration } from '@mikro-orm/migrations';

/**
 * Schedules (cron, every, files triggers), their firings keyed by (schedule, fire_time) under a unique
 * constraint so that any number of server processes fire each time once, the files a files trigger has seen
 * (path + size + mtime), and the schedule that created a work request.
 */
export class Migration20261202030000_schedules extends Migration {

  override up(): void {
    this.addSql(`create table "schedule" ("id" bigserial primary key, "name" text not null, "trigger" jsonb not null, "spec" json not null, "overlap" text check ("overlap" in ('skip', 'allow')) not null, "catch_up" text check ("catch_up" in ('none', 'latest')) not null, "enabled" boolean not null default true, "next_fire_at" timestamptz null, "firings_count" bigint not null default 0, "skipped_count" bigint not null default 0, "last_error" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`alter table "schedule" add constraint "schedule_name_unique" unique ("name");`);
    // The schedules tick reads only the due ones: cost independent of how many schedules wait.
    this.addSql(`create index "schedule_due_idx" on "schedule" ("next_fire_at") where "enabled" and "next_fire_at" is not null;`);

    this.addSql(`create table "schedule_firing" ("id" bigserial primary key, "schedule_id" bigint not null, "fire_time" timestamptz not null, "reason" text check ("reason" in ('scheduled', 'catch_up', 'manual', 'files')) not null, "work_request_id" bigint null, "workflow_id" bigint null, "files" jsonb null, "created_at" timestamptz not null);`);
    this.addSql(`alter table "schedule_firing" add constraint "schedule_firing_schedule_id_fire_time_unique" unique ("schedule_id", "fire_time");`);
    this.addSql(`alter table "schedule_firing" add constraint "schedule_firing_schedule_id_foreign" foreign key ("schedule_id") references "schedule" ("id") on update cascade on delete cascade;`);
    // The last firing of a schedule (newest first).
    this.addSql(`create index "schedule_firing_schedule_id_id_idx" on "schedule_firing" ("schedule_id", "id" desc);`);

    this.addSql(`create table "schedule_file" ("schedule_id" bigint not null, "path" text not null, "size" bigint not null, "mtime_ns" bigint not null, "firing_id" bigint null, "seen_at" timestamptz not null, constraint "schedule_file_pkey" primary key ("schedule_id", "path", "size", "mtime_ns"));`);
    this.addSql(`alter table "schedule_file" add constraint "schedule_file_schedule_id_foreign" foreign key ("schedule_id") references "schedule" ("id") on update cascade on delete cascade;`);
    this.addSql(`create index "schedule_file_pending_idx" on "schedule_file" ("schedule_id", "seen_at") where "firing_id" is null;`);

    this.addSql(`alter table "work_request" add column "schedule" text null;`);
    // GET /work-requests?schedule=NAME, newest first; and overlap: skip asks whether a schedule has unfinished work.
    this.addSql(`create index "work_request_schedule_id_idx" on "work_request" ("schedule", "id" desc) where "schedule" is not null;`);
    this.addSql(`create index "work_request_schedule_unfinished_idx" on "work_request" ("schedule") where "schedule" is not null and "status" in ('blocked', 'pending', 'running');`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_schedule_unfinished_idx";`);
    this.addSql(`drop index if exists "work_request_schedule_id_idx";`);
    this.addSql(`alter table "work_request" drop column if exists "schedule";`);
    this.addSql(`drop table if exists "schedule_file" cascade;`);
    this.addSql(`drop table if exists "schedule_firing" cascade;`);
    this.addSql(`drop table if exists "schedule" cascade;`);
  }

}
