import { Migration } from '@mikro-orm/migrations';

/**
 * GET /statistics/timeline counts the requests that ended in a window and their queue wait: an index on
 * completed_at that includes those figures makes it an index-only scan of the window. Partial (ended requests
 * only): a claim or a heartbeat of a running request never writes to it. Hand-written: the generator knows
 * nothing of INCLUDE.
 */
export class Migration20261202060000_work_request_completed_index extends Migration {

  override up(): void {
    this.addSql(`create index "work_request_completed_idx" on "work_request" ("completed_at") include ("status", "result", "created_at", "started_at") where "completed_at" is not null;`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_completed_idx";`);
  }

}
