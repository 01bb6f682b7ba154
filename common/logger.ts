import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type prettyFactory from 'pino-pretty';
import { z } from 'zod';

export type { Logger };

/** `LOG_LEVEL` and `LOG_FORMAT`, as the server's and the worker's compiled configs read them. */
export const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export const logFormatSchema = z.enum(['json', 'pretty']);
export type LogFormat = z.infer<typeof logFormatSchema>;

/**
 * Logs go to stderr: JSON for machines, or readable lines when stderr is a terminal (`format` overrides).
 * Authorization headers and tokens are redacted; the code never logs a token on purpose either.
 */
export function createLogger(options: { level: string; format?: LogFormat; name?: string }): Logger {
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination: DestinationStream =
    format === 'pretty'
      ? loadPretty()({ destination: 2, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true })
      : // Synchronous: an async stream flushes at exit in a loop that never ends once the reader of a pipe is gone (EPIPE).
        pino.destination({ dest: 2, sync: true });
  return pino(
    { name: options.name ?? 'worksched', level: options.level, redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' } },
    destination,
  );
}

/**
 * pino-pretty, loaded only for readable logs: a worker or server logging JSON (stderr not a terminal, as under
 * systemd or in a container) never holds its 28 modules (about 1 MB of heap).
 */
function loadPretty(): typeof prettyFactory {
  return (createRequire(__filename)('pino-pretty') as { default: typeof prettyFactory }).default;
}
