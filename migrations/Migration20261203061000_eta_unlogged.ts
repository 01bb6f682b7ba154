import { Migration } from '@mikro-orm/migrations';

/**
 * work_request_eta is derived data: the estimates pass recomputes every row of it from work_request, the workers
 * and the history. UNLOGGED spares it the WAL (a first pass over 100,000 pending requests wrote ~35 MB of it and
 * waited for its flush); the price is that a crash empties the table, and the next pass (seconds later) fills it
 * again. Not copied to physical standbys, which worksched does not read from.
 */
export class Migration20261203061000_eta_unlogged extends Migration {

  override up(): void {
    this.addSql(`alter table "work_request_eta" set unlogged;`);
  }

  override down(): void {
    this.addSql(`alter table "work_request_eta" set logged;`);
  }

}
