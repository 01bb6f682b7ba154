import path from 'node:path';
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ALL_ENTITIES } from '../entities';
import { pgTimeoutSettings, type DatabaseTimeouts } from './databaseTimeouts';

const MIGRATIONS_DIR = path.resolve(__dirname, '..', 'migrations');

/** `timeouts`: what the running server waits at most (see databaseTimeouts.ts); none for migrations, which may be long. */
export function ormOptions(databaseUrl: string, overrides: Partial<Options> = {}, timeouts?: DatabaseTimeouts): Options {
  return {
    clientUrl: databaseUrl,
    entities: ALL_ENTITIES,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: true },
    forceUtcTimezone: true,
    // Connections: request handlers, long-poll re-claims and housekeeping share this pool.
    pool: { min: 1, max: 20 },
    ...(timeouts
      ? {
          driverOptions: {
            acquireConnectionTimeout: timeouts.acquireMs,
            connection: pgTimeoutSettings(timeouts),
            // knex prints "Connection Error: ..." to the console for each connection an outage broke; our log says it once.
            log: { warn: () => undefined },
          },
        }
      : {}),
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: '!(*.d).{js,ts}',
      tableName: 'worksched_migrations',
      transactional: true,
      allOrNothing: true,
      emit: 'ts',
      snapshot: false,
      silent: true,
    },
    debug: false,
    ...overrides,
  };
}

/** Opens the database. Does not touch the schema: run migrations with `migrateDatabase`. */
export async function openDatabase(databaseUrl: string, overrides: Partial<Options> = {}, timeouts?: DatabaseTimeouts): Promise<MikroORM> {
  return MikroORM.init(ormOptions(databaseUrl, overrides, timeouts));
}

/** Applies pending migrations; returns their names. */
export async function migrateDatabase(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((migration) => migration.name);
}

/**
 * Applies pending migrations on a connection of its own without the running server's timeouts (a migration may
 * rewrite a big table); `orm` (with timeouts) only checks whether there are any, so a server on a migrated
 * database opens one ORM, not two.
 */
export async function migrateDatabaseWithoutTimeouts(orm: MikroORM, databaseUrl: string): Promise<string[]> {
  if ((await orm.getMigrator().getPendingMigrations()).length === 0) return [];
  const migrating = await openDatabase(databaseUrl);
  try {
    return await migrateDatabase(migrating);
  } finally {
    await migrating.close(true);
  }
}
