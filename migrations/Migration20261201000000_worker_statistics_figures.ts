import { Migration } from '@mikro-orm/migrations';

/**
 * GET /statistics/workers reads every run a worker completed in the window (a week is ~1/4 of a month's
 * history): with the figures it sums in the index, that is an index-only scan instead of one heap page per
 * row (history is written in completion order, so a worker's rows are spread over the whole table). Same key as
 * task_history_worker_idx, which it supersedes. Hand-written: the generator knows nothing of INCLUDE.
 */
export class Migration20261201000000_worker_statistics_figures extends Migration {

  override up(): void {
    this.addSql(`create index "task_history_worker_figures_idx" on "task_history" ("worker_id", "completed_at") include ("result", "duration_ms", "started_at");`);
    this.addSql(`drop index if exists "task_history_worker_idx";`);
  }

  override down(): void {
    this.addSql(`create index "task_history_worker_idx" on "task_history" ("worker_id", "completed_at");`);
    this.addSql(`drop index if exists "task_history_worker_figures_idx";`);
  }

}
