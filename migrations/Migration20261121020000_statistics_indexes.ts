import { Migration } from '@mikro-orm/migrations';

/**
 * Indexes for GET /api/v1/statistics/tasks: each sort order of the listing reads its page straight off an index
 * of task_key, whose expressions server/statistics/taskKeyOrder.ts repeats exactly (the `task_name` order
 * uses the key's unique constraint); a task's newest runs come off an index of task_history. Hand-written:
 * the generator knows nothing of expression or operator-class indexes and would drop them.
 */
export class Migration20261121020000_statistics_indexes extends Migration {

  override up(): void {
    // sort=-runs / runs (a backward scan serves the descending order), sort=-failures.
    this.addSql(`create index "task_key_runs_idx" on "task_key" ("runs", "id");`);
    this.addSql(`create index "task_key_failures_idx" on "task_key" ("failures", "id");`);
    // sort=-success_rate / success_rate: successes / runs (runs is never 0 for a stored key; greatest keeps it total).
    this.addSql(`create index "task_key_success_rate_idx" on "task_key" (("successes"::float8 / greatest("runs", 1)), "id");`);
    // sort=-last_run_at: nulls (never in practice) sort as the oldest.
    this.addSql(`create index "task_key_last_run_id_idx" on "task_key" ((coalesce("last_run_at", '-infinity'::timestamptz)), "id");`);
    // task_name_prefix: LIKE 'prefix%' can use a pattern_ops index whatever the database's collation.
    this.addSql(`create index "task_key_task_name_pattern_idx" on "task_key" ("task_name" varchar_pattern_ops);`);
    // Percentiles of a page of keys: an index-only scan. Each key's successful rows lie together in the index
    // with the figures, where in the heap they are spread over as many pages as rows (history is written in
    // completion order). Same key columns and predicate as task_history_success_idx, so it can serve its queries too.
    this.addSql(`create index "task_history_success_figures_idx" on "task_history" ("task_name", "subject", "context", "completed_at" desc) include ("duration_ms", "cpu_time_ms", "memory", "disk_space") where "result" = 'success';`);
    // It supersedes task_history_success_idx (same key and predicate): one index less to write per run.
    this.addSql(`drop index if exists "task_history_success_idx";`);
    // recent_runs of GET /statistics/tasks/:task_name: newest rows of a task across its subjects and contexts.
    this.addSql(`create index "task_history_task_recent_idx" on "task_history" ("task_name", "completed_at" desc, "id" desc);`);
  }

  override down(): void {
    this.addSql(`drop index if exists "task_history_task_recent_idx";`);
    this.addSql(`create index "task_history_success_idx" on "task_history" ("task_name", "subject", "context", "completed_at" desc) where "result" = 'success';`);
    this.addSql(`drop index if exists "task_history_success_figures_idx";`);
    this.addSql(`drop index if exists "task_key_task_name_pattern_idx";`);
    this.addSql(`drop index if exists "task_key_last_run_id_idx";`);
    this.addSql(`drop index if exists "task_key_success_rate_idx";`);
    this.addSql(`drop index if exists "task_key_failures_idx";`);
    this.addSql(`drop index if exists "task_key_runs_idx";`);
  }

}
