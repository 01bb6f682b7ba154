import { Migration } from '@mikro-orm/migrations';

/**
 * Schedules with a workflow template: the template (json, keeping key order as `spec` does) beside a now
 * optional spec, and a firing's workflow named by its text id (workflow.workflow_id), not a number.
 */
export class Migration20261202080000_schedule_workflows extends Migration {

  override up(): void {
    this.addSql(`alter table "schedule" alter column "spec" drop not null;`);
    this.addSql(`alter table "schedule" add column "workflow" json null;`);
    this.addSql(`alter table "schedule_firing" alter column "workflow_id" type varchar(200) using "workflow_id"::text;`);
  }

  override down(): void {
    this.addSql(`alter table "schedule_firing" alter column "workflow_id" type bigint using null;`);
    this.addSql(`alter table "schedule" drop column if exists "workflow";`);
    this.addSql(`alter table "schedule" alter column "spec" set not null;`);
  }

}
