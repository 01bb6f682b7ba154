import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Logs go to stderr: JSON for machines, or readable lines when stderr is a terminal (LOG_FORMAT=json|pretty
 * overrides). Authorization headers and tokens are redacted; the code never logs a token on purpose either.
 */
export function createLogger(level: string, name = 'worksched'): Logger {
  const format = process.env.LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination: DestinationStream =
    format === 'pretty'
      ? pretty({ destination: 2, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true })
      : pino.destination(2);
  return pino(
    { name, level, redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' } },
    destination,
  );
}
