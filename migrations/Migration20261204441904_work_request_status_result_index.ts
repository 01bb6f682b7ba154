import { Migration } from '@mikro-orm/migrations';

/**
 * GET /statistics/summary counts work requests by status and result on every poll of every open dashboard tab.
 * Read from the heap that is a scan of the whole table (every column of every row: task data, output data); the
 * status index that listings use (status, id desc) now also carries `result`, so the count is an index-only scan
 * of a few narrow pages. Same key, so listings keep their plans, and no extra write: an update that changes
 * `result` changes `status` too (an indexed column), so it was never a HOT update. Hand-written: the generator
 * knows nothing of INCLUDE. Built under a new name, then swapped in, so no moment is without the index.
 */
export class Migration20261204441904_work_request_status_result_index extends Migration {

  override up(): void {
    this.addSql(`create index "work_request_status_id_result_idx" on "work_request" ("status", "id" desc) include ("result");`);
    this.addSql(`drop index if exists "work_request_status_id_idx";`);
    this.addSql(`alter index "work_request_status_id_result_idx" rename to "work_request_status_id_idx";`);
  }

  override down(): void {
    this.addSql(`create index "work_request_status_id_plain_idx" on "work_request" ("status", "id" desc);`);
    this.addSql(`drop index if exists "work_request_status_id_idx";`);
    this.addSql(`alter index "work_request_status_id_plain_idx" rename to "work_request_status_id_idx";`);
  }

}
