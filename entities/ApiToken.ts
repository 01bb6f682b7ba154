import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { TOKEN_ROLES } from '../protocol/tokens';
import { Worker } from './Worker';

/** A bearer token. Only the sha-256 of the token is stored; the token itself is shown once. */
export const ApiToken = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    role: p.enum([...TOKEN_ROLES]),
    name: p.string().nullable(),
    tokenHash: p.string().length(64).unique(),
    worker: p.manyToOne(Worker).nullable().deleteRule('cascade'),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    /** Null: never expires. */
    expiresAt: p.datetime().nullable(),
  }),
});
export type ApiToken = InferEntity<typeof ApiToken>;
