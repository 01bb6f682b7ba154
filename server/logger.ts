import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr; tokens never reach them (authorization headers are redacted, tokens are not logged). */
export function createLogger(level: string, name = 'worksched'): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' },
  }, pino.destination(2));
}
