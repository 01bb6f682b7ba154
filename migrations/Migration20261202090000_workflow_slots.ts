import { Migration } from '@mikro-orm/migrations';

/**
 * A workflow's max_running: its ready tasks beyond the limit stay blocked with `waiting_for_slot` set until one
 * of its pending or running tasks ends. The partial index finds the next ones to release (task priority, then
 * creation order) without reading the workflow's other blocked rows. Hand-written: a partial index.
 */
export class Migration20261202090000_workflow_slots extends Migration {

  override up(): void {
    this.addSql(`alter table "work_request" add column "waiting_for_slot" boolean not null default false;`);
    this.addSql(`create index "work_request_slot_wait_idx" on "work_request" ("workflow_id", "priority" desc, "id") where "status" = 'blocked' and "waiting_for_slot";`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_slot_wait_idx";`);
    this.addSql(`alter table "work_request" drop column if exists "waiting_for_slot";`);
  }

}
