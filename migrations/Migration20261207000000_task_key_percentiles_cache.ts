import { Migration } from '@mikro-orm/migrations';

/**
 * The statistics listing's percentiles per key, kept on task_key: computing them sorts each key's retained
 * successful runs four times (about 1 ms a key at 1,000 runs), which made a page of 50 keys over 10M history rows
 * cost 25-50 ms on every call. `figures_version` counts the changes of a key's retained successful runs (a success
 * rolled up, a success pruned); `percentiles` is valid while `percentiles_version` equals it.
 */
export class Migration20261207000000_task_key_percentiles_cache extends Migration {

  override up(): void {
    this.addSql(`alter table "task_key" add column "figures_version" int not null default 0, add column "percentiles" jsonb null, add column "percentiles_version" int null;`);
  }

  override down(): void {
    this.addSql(`alter table "task_key" drop column "figures_version", drop column "percentiles", drop column "percentiles_version";`);
  }

}
