import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * When a waiting request is expected to start and finish, as the last housekeeping pass estimated it
 * (server/scheduler/refreshEstimates.ts), and why. Kept apart from work_request so that rewriting the
 * estimates never row-locks pending requests the claim is walking.
 */
export const WorkRequestEta = defineEntity({
  name: 'WorkRequestEta',
  tableName: 'work_request_eta',
  properties: (p) => ({
    workRequestId: p.bigint('number').primary(),
    expectedStartAt: p.datetime().nullable(),
    expectedEndAt: p.datetime().nullable(),
    /** Null where the pass stored its wording by id (etaReasonId, into work_request_eta_reason): read the two coalesced. */
    etaReason: p.text().nullable(),
    etaReasonId: p.integer().nullable(),
    /** A hash of etaReason with its figures taken out: what the estimates pass compares. */
    etaShape: p.integer().nullable(),
    computedAt: p.datetime(),
  }),
});
export type WorkRequestEta = InferEntity<typeof WorkRequestEta>;
