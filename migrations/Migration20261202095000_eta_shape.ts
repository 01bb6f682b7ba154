import { Migration } from '@mikro-orm/migrations';

/**
 * The shape of each stored estimate's wording (a hash of eta_reason with its figures taken out), so the estimates
 * pass can tell a changed wording without reading 100,000 reasons back. Null (rows written before) reads as changed.
 */
export class Migration20261202095000_eta_shape extends Migration {

  override up(): void {
    this.addSql(`alter table "work_request_eta" add column "eta_shape" int null;`);
  }

  override down(): void {
    this.addSql(`alter table "work_request_eta" drop column if exists "eta_shape";`);
  }

}
