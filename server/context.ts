import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { TokenAuthenticator } from './auth';
import type { ServerConfig } from './config';
import type { Logger } from '../common/logger';
import type { ServerMetrics } from './metrics';
import type { DatabaseNotifications } from './notifications';

/** What route handlers need; built once by startServer. */
export interface ServerContext {
  orm: MikroORM;
  /** Plain pg connections for the claim, which sends its transaction as one round trip. */
  pool: Pool;
  config: ServerConfig;
  logger: Logger;
  notifications: DatabaseNotifications;
  authenticator: TokenAuthenticator;
  metrics: ServerMetrics;
}
