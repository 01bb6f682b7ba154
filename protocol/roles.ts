import type { TokenRole } from './tokens';

/** The role a route asks for; `none` needs no token. */
export type RouteRole = 'none' | 'client' | 'operator' | 'admin' | 'worker' | 'enrollment';

/**
 * Which token roles a route's role lets in: admin ⊇ operator ⊇ client; worker tokens reach only the worker
 * routes; enrollment routes take the enrollment token or an admin's.
 */
export const ROLE_GRANTS = {
  client: ['client', 'operator', 'admin'],
  operator: ['operator', 'admin'],
  admin: ['admin'],
  worker: ['worker'],
  enrollment: ['enrollment', 'admin'],
} as const satisfies Record<Exclude<RouteRole, 'none'>, readonly TokenRole[]>;

/** The token roles let in by `role`; empty for `none` (no token needed, anyone). */
export function tokenRolesFor(role: RouteRole): readonly TokenRole[] {
  return role === 'none' ? [] : ROLE_GRANTS[role];
}
