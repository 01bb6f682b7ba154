import { Migration } from '@mikro-orm/migrations';

/**
 * Housekeeping re-checks which pending requests no worker can run once per distinct set of needs: an index
 * on those needs (nulls as -1 and '', so a row comparison can step from one set to the next) lets it find the
 * sets by skipping from one to the next instead of reading every pending row (2.4 s at 1M pending). Partial
 * (pending rows only): a claim, a completion or a heartbeat never writes to it. Hand-written: expressions.
 */
export class Migration20261202096000_pending_needs_index extends Migration {

  override up(): void {
    this.addSql(`create index "work_request_pending_needs_idx" on "work_request" ((coalesce("need_memory", -1)), (coalesce("need_disk", -1)), (coalesce("need_cpu", -1)), (coalesce("need_gpu", -1)), "need_tags", (coalesce("unschedulable_reason", ''))) where "status" = 'pending';`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_pending_needs_idx";`);
  }

}
