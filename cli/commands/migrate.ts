import type { Command } from 'commander';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (DATABASE_URL, or the embedded PostgreSQL in the data dir)')
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL)')
    .option('--data-dir <dir>', 'data directory of the embedded PostgreSQL (default: $WORKSCHED_DATA_DIR or ./.worksched)')
    .action(async (options: { databaseUrl?: string; dataDir?: string }) => {
      const { compileServerConfig } = await import('../../server/config');
      const { migrateDatabase, openDatabase } = await import('../../server/orm');
      const { resolveDatabase } = await import('../../server/resolveDatabase');
      const config = compileServerConfig({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
      const database = await resolveDatabase(config, (line) => process.stderr.write(`${line}\n`));
      try {
        const orm = await openDatabase(database.databaseUrl);
        try {
          const applied = await migrateDatabase(orm);
          process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database schema is up to date\n');
        } finally {
          await orm.close(true);
        }
      } finally {
        await database.stop();
      }
    });
}
