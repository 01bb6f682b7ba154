import http from 'node:http';
import type { Express } from 'express';
import { Pool } from 'pg';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createApp } from './app';
import { TokenAuthenticator } from './auth';
import type { ServerConfig } from './config';
import { bootstrapCredentials } from './credentials';
import { scheduleHousekeeping, type Housekeeping } from './housekeeping/scheduleHousekeeping';
import { acquireInstanceLock } from './instanceLock';
import { checkPortFree, describeListenError, serverUrl } from './listenAddress';
import { createLogger, type Logger } from '../common/logger';
import { ServerMetrics } from './metrics';
import { DatabaseNotifications } from './notifications';
import { databaseTimeouts, pgTimeoutSettings } from './databaseTimeouts';
import { migrateDatabaseWithoutTimeouts, openDatabase } from './orm';
import { resolveDatabase } from './resolveDatabase';
import { schedulingPolicyOf } from './history/schedulingPolicy';

export interface RunningServer {
  url: string;
  port: number;
  databaseUrl: string;
  adminToken: string;
  enrollmentToken: string;
  credentialsFile: string;
  orm: MikroORM;
  /** The express app (its router stack lists every mounted route). */
  app: Express;
  housekeeping: Housekeeping;
  logger: Logger;
  close(): Promise<void>;
}

/**
 * Starts everything the server is: the database (embedded PostgreSQL in `<dataDir>/pg` unless DATABASE_URL
 * is set), migrations, bootstrap tokens, the LISTEN connection, the HTTP server and the housekeeping jobs.
 */
export async function startServer(
  config: ServerConfig,
  options: {
    logger?: Logger;
    onProgress?: (line: string) => void;
    /** A replica of `server --processes N`: its primary holds the data dir's instance lock. */
    dataDirLockedByPrimary?: boolean;
  } = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const progress = options.onProgress ?? ((line: string) => logger.info(line));
  const cleanups: Array<() => unknown> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn({ err: error }, 'shutdown step failed');
      }
    }
  };
  try {
    // One server per data dir: a second one would adopt the first one's PostgreSQL and rewrite its credentials file.
    const lock = options.dataDirLockedByPrimary ? { setUrl: () => undefined, release: () => undefined } : acquireInstanceLock(config.dataDir);
    cleanups.push(() => lock.release());
    await checkPortFree(config.host, config.port);
    const database = await resolveDatabase(config, progress, { info: (line) => logger.info(line), warn: (line) => logger.warn(line) });
    cleanups.push(() => database.stop());
    const databaseUrl = database.databaseUrl;
    const timeouts = databaseTimeouts(config.databaseStatementTimeoutS);
    const orm = await openDatabase(databaseUrl, {}, timeouts);
    cleanups.push(() => orm.close(true));
    const applied = await migrateDatabaseWithoutTimeouts(orm, databaseUrl);
    if (applied.length > 0) progress(`applied ${applied.length} migration(s): ${applied.join(', ')}`);

    const pool = new Pool({ connectionString: databaseUrl, max: 10, application_name: 'worksched-claim', ...pgTimeoutSettings(timeouts) });
    pool.on('error', (error) => logger.warn({ err: error }, 'idle claim connection failed; it is replaced'));
    cleanups.push(() => pool.end());

    const notifications = new DatabaseNotifications(databaseUrl, logger, timeouts);
    await notifications.start();
    cleanups.push(() => notifications.close());

    const ctx = { orm, pool, config, logger, notifications, authenticator: new TokenAuthenticator(orm, notifications), metrics: new ServerMetrics(orm, { maxTaskNames: config.metricsTaskNames }) };
    const app = createApp(ctx);
    const server = http.createServer(app);
    // Long-polls hold requests for up to 60 s; keep idle sockets a little longer than clients do.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => void describeListenError(error, config.host, config.port).then(reject, () => reject(error)));
      server.listen(config.port, config.host, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = serverUrl(config.host, port);
    lock.setUrl(url);

    const credentials = await bootstrapCredentials(orm.em.fork(), {
      dataDir: config.dataDir,
      serverUrl: url,
      adminToken: config.adminToken,
      enrollmentToken: config.enrollmentToken,
    });
    const housekeeping = scheduleHousekeeping(orm, logger, {
      intervalS: config.housekeepingIntervalS,
      heartbeatTimeoutS: config.heartbeatTimeoutS,
      historyRetentionRuns: config.historyRetentionRuns,
      pool,
      policy: schedulingPolicyOf(config),
      preemptAfterS: config.preemptAfterS,
      learnedHeadroom: config.learnedHeadroom,
      schedules: {
        maxExpansion: config.maxExpansion,
        filesRescanS: config.scheduleFilesRescanS,
        firingRetention: { keep: config.scheduleFiringRetention, maxAgeDays: config.scheduleFiringRetentionDays ?? null },
      },
    });
    // Stop housekeeping before the HTTP server and the database go away.
    cleanups.push(() => housekeeping.stop());
    logger.info({ url }, 'worksched server listening');
    return {
      url,
      port,
      databaseUrl,
      adminToken: credentials.adminToken,
      enrollmentToken: credentials.enrollmentToken,
      credentialsFile: credentials.file,
      orm,
      app,
      housekeeping,
      logger,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

