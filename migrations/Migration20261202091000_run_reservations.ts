import { Migration } from '@mikro-orm/migrations';

/**
 * Budgets that hold under concurrent claims, and paused runs the claim does not walk.
 * - work_request.expected_cost: what the claim reserved for the attempt (its key's mean duration × the worker's
 *   cost_per_hour); a running attempt counts in its run's spend at the greater of that and what it has cost so far.
 * - work_request.budget_held: a pending task of a budget-paused run. The claim's partial index leaves such rows
 *   out, so a paused run of 100,000 pending tasks costs the claim nothing; pausing and resuming set and clear it.
 */
export class Migration20261202091000_run_reservations extends Migration {

  override up(): void {
    this.addSql(`alter table "work_request" add column "expected_cost" double precision null, add column "budget_held" boolean not null default false;`);
    this.addSql(`drop index if exists "work_request_claim_idx";`);
    this.addSql(`create index "work_request_claim_idx" on "work_request" ((priority + priority_adjustment) desc, "created_at", "id") where "status" = 'pending' and not "budget_held";`);
  }

  override down(): void {
    this.addSql(`drop index if exists "work_request_claim_idx";`);
    this.addSql(`create index "work_request_claim_idx" on "work_request" ((priority + priority_adjustment) desc, "created_at", "id") where "status" = 'pending';`);
    this.addSql(`alter table "work_request" drop column "expected_cost", drop column "budget_held";`);
  }

}
