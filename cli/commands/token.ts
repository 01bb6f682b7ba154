import path from 'node:path';
import type { Command } from 'commander';
import { credentialsPath, readCredentialsFile } from '../../common/credentialsFile';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { printJson } from '../format';

const ISSUABLE_ROLES = ['client', 'operator', 'admin', 'enrollment'] as const;
type IssuableRole = (typeof ISSUABLE_ROLES)[number];

interface TokenCreateFlags extends ConnectionOptions {
  role: string;
  name?: string;
  json?: boolean;
}

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage API tokens (needs an admin token)');
  withConnectionOptions(
    token
      .command('create')
      .description('create an API token; prints only the token, so TOKEN=$(worksched token create --role client) works')
      .requiredOption('--role <role>', `what the token may do: ${ISSUABLE_ROLES.join(', ')}`)
      .option('--name <name>', 'a name to recognise the token by')
      .option('--json', 'print {id, role, name, token} as JSON'),
  ).action(async (flags: TokenCreateFlags) => {
    const role = parseRole(flags.role);
    const created = await connect(flags).createToken(role, flags.name);
    if (flags.json) printJson(created);
    else process.stdout.write(`${created.token}\n`);
    const label = created.name ? ` "${created.name}"` : '';
    process.stderr.write(`created ${created.role} token #${created.id}${label}; it is shown only this once, so store it now\n`);
  });
  token
    .command('show')
    .description('print the server\'s enrollment token from its credentials file (on the server\'s host), so ENROLLMENT=$(worksched token show enrollment) works')
    .argument('<which>', 'enrollment')
    .option('--data-dir <dir>', 'the server\'s data directory (default: $WORKSCHED_DATA_DIR or ./.worksched)')
    .action((which: string, flags: { dataDir?: string }) => {
      if (which !== 'enrollment') throw new CliUsageError(`only the enrollment token can be shown (tokens are stored hashed); got ${JSON.stringify(which)}`);
      process.stdout.write(`${readEnrollmentToken(flags.dataDir)}\n`);
    });
}

/**
 * The database keeps only hashes; the plain enrollment token is in the credentials file (mode 600) the server
 * writes at each start. Whoever can read that file can read the admin token beside it, so this needs no more.
 */
function readEnrollmentToken(dataDirFlag: string | undefined): string {
  const dataDir = path.resolve(dataDirFlag ?? process.env.WORKSCHED_DATA_DIR ?? './.worksched');
  const file = credentialsPath(dataDir);
  const saved = readCredentialsFile(dataDir);
  if (!saved?.enrollment_token) {
    throw new CliUsageError(
      `no enrollment token in ${file}: run this on the server's host in the directory it was started from (or pass --data-dir); ` +
        'from anywhere else, an admin can create one with `worksched token create --role enrollment --name NAME`',
    );
  }
  return saved.enrollment_token;
}

function parseRole(role: string): IssuableRole {
  if ((ISSUABLE_ROLES as readonly string[]).includes(role)) return role as IssuableRole;
  if (role === 'worker') {
    throw new CliUsageError(
      'worker tokens are not created here: create an enrollment token (--role enrollment) and give it to `worksched worker`, which registers and gets its own token',
    );
  }
  throw new CliUsageError(`--role must be one of ${ISSUABLE_ROLES.join(', ')}, got ${JSON.stringify(role)}`);
}
