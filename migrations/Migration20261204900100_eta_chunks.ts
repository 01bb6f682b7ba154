import { Migration } from '@mikro-orm/migrations';

/**
 * Estimates stored 64 requests to a row (work_request_eta_chunk, by id / 64; element id % 64 + 1 of each array)
 * instead of one row each. A first estimates pass over 100,000 new requests wrote 100,000 rows, and each row's
 * insert into the primary key index cost more than the pass's whole read (about 2.5 µs a row: 250 ms of the
 * 330 ms an insert of 100,000 rows took, measured); 1,600 rows of arrays cost a few ms. -1: no value (no NULLs,
 * which would make slicing and indexing the arrays walk their null bitmap); a reason of -1: no estimate.
 * work_request_eta is derived data (the next pass refills it): dropped, not copied. UNLOGGED like it was; fillfactor
 * 50 so that rewriting a chunk's arrays stays a HOT update on its page.
 */
export class Migration20261204900100_eta_chunks extends Migration {

  override up(): void {
    this.addSql(`create unlogged table "work_request_eta_chunk" ("chunk" bigint primary key, "start_ms" bigint[] not null, "end_ms" bigint[] not null, "reason_id" int[] not null, "shape" int[] not null) with (fillfactor = 50);`);
    this.addSql(`drop table if exists "work_request_eta";`);
  }

  override down(): void {
    this.addSql(`create unlogged table "work_request_eta" ("work_request_id" bigint primary key, "expected_start_at" timestamptz null, "expected_end_at" timestamptz null, "eta_reason" text null, "computed_at" timestamptz not null, "eta_shape" int null, "eta_reason_id" int null);`);
    this.addSql(`drop table if exists "work_request_eta_chunk";`);
  }

}
