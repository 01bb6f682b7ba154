import { Migration } from '@mikro-orm/migrations';

/** Per-key counters are folded in from an insert-only table instead of being updated by every completion. */
export class Migration20261121030000_task_key_increments extends Migration {

  override up(): void {
    this.addSql(`create table "task_key_increment" ("id" bigserial primary key, "task_name" varchar(255) not null, "subject" text not null default '', "context" text not null default '', "result" text check ("result" in ('success', 'failure', 'error', 'skipped')) not null, "completed_at" timestamptz not null);`);
  }

  override down(): void {
    this.addSql(`drop table if exists "task_key_increment";`);
  }

}
