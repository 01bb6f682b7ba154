/** The fixed choices of the embedded server: who it runs as, where it listens, how long it may take. */

export const SUPERUSER = 'postgres';
export const LISTEN_HOST = '127.0.0.1';
export const START_TIMEOUT_MS = 60_000;
export const FAST_SHUTDOWN_TIMEOUT_MS = 30_000;
export const IMMEDIATE_SHUTDOWN_TIMEOUT_MS = 10_000;
