/** The fixed choices of the embedded server: its database superuser, where it listens, how long it may take. */

export const DATABASE_SUPERUSER = 'postgres';
/** The system user the server runs as when we are root (PostgreSQL refuses to run as root). */
export const DEFAULT_SYSTEM_USER = 'postgres';
export const LISTEN_HOST = '127.0.0.1';
export const START_TIMEOUT_S = 60;
export const FAST_SHUTDOWN_TIMEOUT_S = 30;
export const IMMEDIATE_SHUTDOWN_TIMEOUT_S = 10;
