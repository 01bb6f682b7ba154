import { Migration } from '@mikro-orm/migrations';

/**
 * A key's efficiency was marked fresh by time (efficiency_at ≥ last_success_at), but a success's completed_at is
 * its transaction's time, not its commit's: a success that committed just after a refresh read the history could
 * carry an earlier time and never be counted. The refresh now records how many successes the key had counted
 * when it read them (task_key.successes only grows, and a success reaches it only after its history row has
 * committed), and a key is stale while its count is larger.
 */
export class Migration20261204950000_efficiency_seen_successes extends Migration {

  override up(): void {
    this.addSql(`alter table "task_key" add column "efficiency_successes" int not null default 0;`);
  }

  override down(): void {
    this.addSql(`alter table "task_key" drop column "efficiency_successes";`);
  }

}
