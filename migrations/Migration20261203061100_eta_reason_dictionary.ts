import { Migration } from '@mikro-orm/migrations';

/**
 * Each distinct eta_reason once (a few hundred wordings for 100,000 estimates): the estimates pass stores its id
 * in work_request_eta.eta_reason_id and leaves eta_reason null, so a row is ~70 bytes instead of ~280 and a first
 * pass writes a quarter of the pages. Readers show coalesce(eta_reason, the wording of eta_reason_id). UNLOGGED
 * like work_request_eta (a crash empties both; the next pass refills them). No foreign key: the pass and the
 * pruning of unused wordings hold the estimates lock, so neither sees the other's half-done work.
 */
export class Migration20261203061100_eta_reason_dictionary extends Migration {

  override up(): void {
    this.addSql(`create unlogged table "work_request_eta_reason" ("id" int generated always as identity primary key, "reason" text not null unique);`);
    this.addSql(`alter table "work_request_eta" add column "eta_reason_id" int null, alter column "eta_reason" drop not null;`);
  }

  override down(): void {
    this.addSql(`update "work_request_eta" e set "eta_reason" = d."reason" from "work_request_eta_reason" d where d."id" = e."eta_reason_id" and e."eta_reason" is null;`);
    this.addSql(`delete from "work_request_eta" where "eta_reason" is null;`);
    this.addSql(`alter table "work_request_eta" drop column "eta_reason_id", alter column "eta_reason" set not null;`);
    this.addSql(`drop table if exists "work_request_eta_reason";`);
  }

}
