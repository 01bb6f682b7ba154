import { Migration } from '@mikro-orm/migrations';

export class Migration20261121000000_initial extends Migration {

  override up(): void {
    this.addSql(`create table "worker" ("id" bigserial primary key, "name" varchar(255) not null, "enabled" boolean not null default true, "online" boolean not null default true, "resources" jsonb not null, "cpu_count" int not null, "total_memory" bigint not null, "available_memory" bigint not null, "available_disk_space" bigint not null, "gpu_count" int not null default 0, "tags" text[] not null default '{}', "concurrency" int not null default 1, "cost_per_hour" double precision null, "registered_at" timestamptz not null, "last_seen_at" timestamptz null);`);
    this.addSql(`alter table "worker" add constraint "worker_name_unique" unique ("name");`);

    this.addSql(`create table "api_token" ("id" bigserial primary key, "role" text check ("role" in ('admin', 'operator', 'client', 'enrollment', 'worker')) not null, "name" varchar(255) null, "token_hash" varchar(64) not null, "worker_id" bigint null, "created_at" timestamptz not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null);`);
    this.addSql(`alter table "api_token" add constraint "api_token_token_hash_unique" unique ("token_hash");`);

    this.addSql(`create table "work_request" ("id" bigserial primary key, "task_name" varchar(255) not null, "subject" text null, "context" text null, "status" text check ("status" in ('blocked', 'pending', 'running', 'completed', 'aborted')) not null, "result" text check ("result" in ('success', 'failure', 'error', 'skipped')) null, "state_reason" text null, "priority" int not null default 0, "priority_adjustment" int not null default 0, "task_data" json not null, "requirements" jsonb not null, "learned_requirements" jsonb not null, "need_memory" bigint null, "need_disk" bigint null, "need_cpu" int null, "need_gpu" int null, "need_tags" text[] not null default '{}', "worker_id" bigint null, "attempt" int not null default 1, "max_attempts" int not null default 3, "supersedes_id" bigint null, "superseded_by_id" bigint null, "workflow_id" bigint null, "time_limit_s" int null, "interrupt_allowed" boolean not null default true, "user_metadata" jsonb not null, "output_data" jsonb null, "not_before" timestamptz null, "log_bytes" bigint not null default 0, "log_truncated" boolean not null default false, "created_at" timestamptz not null, "started_at" timestamptz null, "completed_at" timestamptz null);`);

    this.addSql(`create table "log_chunk" ("id" bigserial primary key, "work_request_id" bigint not null, "seq" int not null, "ts" timestamptz not null, "stream" text check ("stream" in ('stdout', 'stderr', 'system')) not null, "text" text not null);`);
    this.addSql(`alter table "log_chunk" add constraint "log_chunk_work_request_id_seq_unique" unique ("work_request_id", "seq");`);

    this.addSql(`alter table "api_token" add constraint "api_token_worker_id_foreign" foreign key ("worker_id") references "worker" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "work_request" add constraint "work_request_worker_id_foreign" foreign key ("worker_id") references "worker" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "log_chunk" add constraint "log_chunk_work_request_id_foreign" foreign key ("work_request_id") references "work_request" ("id") on update cascade on delete cascade;`);
    // The claim query walks this index in claim order (effective priority, then age) over pending rows only.
    this.addSql(`create index "work_request_claim_idx" on "work_request" ((priority + priority_adjustment) desc, "created_at", "id") where "status" = 'pending';`);
    // Running requests per worker: free slots at claim time, lost-worker sweeps.
    this.addSql(`create index "work_request_running_worker_idx" on "work_request" ("worker_id") where "status" = 'running';`);
    // Listing filters, newest first.
    this.addSql(`create index "work_request_status_id_idx" on "work_request" ("status", "id" desc);`);
    this.addSql(`create index "work_request_task_key_id_idx" on "work_request" ("task_name", "subject", "context", "id" desc);`);
    this.addSql(`create index "work_request_worker_id_idx" on "work_request" ("worker_id", "id" desc);`);
    this.addSql(`alter table "work_request" add constraint "work_request_supersedes_id_foreign" foreign key ("supersedes_id") references "work_request" ("id") on delete set null;`);
    this.addSql(`alter table "work_request" add constraint "work_request_superseded_by_id_foreign" foreign key ("superseded_by_id") references "work_request" ("id") on delete set null;`);
    this.addSql(`create index "api_token_worker_id_idx" on "api_token" ("worker_id");`);
  }

}
