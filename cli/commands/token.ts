import path from 'node:path';
import type { Command } from 'commander';
import { credentialsPath, readCredentialsFile } from '../../common/credentialsFile';
import type { ApiTokenInfo } from '../../protocol/tokens';
import { parseDurationSeconds } from '../../protocol/units';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { formatAge, parseIdArgument, printJson, truncate } from '../format';
import { renderTable, type Column } from '../table';

const ISSUABLE_ROLES = ['client', 'operator', 'admin', 'enrollment'] as const;
type IssuableRole = (typeof ISSUABLE_ROLES)[number];

interface TokenCreateFlags extends ConnectionOptions {
  role: string;
  name?: string;
  json?: boolean;
  expires?: string;
}

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage API tokens (needs an admin token)');
  withConnectionOptions(
    token
      .command('create')
      .description('create an API token; prints only the token, so TOKEN=$(worksched token create --role client) works')
      .requiredOption('--role <role>', `what the token may do: ${ISSUABLE_ROLES.join(', ')}`)
      .option('--name <name>', 'a name to recognise the token by')
      .option('--json', 'print {id, role, name, expires_at, token} as JSON')
      .option('--expires <duration>', 'the token stops working after this long: 3600, 90m, 12h, 30d (default: never)'),
  ).action(async (flags: TokenCreateFlags) => {
    const role = parseRole(flags.role);
    const expiresIn = flags.expires === undefined ? undefined : parseExpiry(flags.expires);
    const created = await connect(flags).createToken(role, flags.name, expiresIn);
    if (flags.json) printJson(created);
    else process.stdout.write(`${created.token}\n`);
    const label = created.name ? ` "${created.name}"` : '';
    const expiry = created.expires_at ? `, expires ${created.expires_at}` : '';
    process.stderr.write(`created ${created.role} token #${created.id}${label}${expiry}; it is shown only this once, so store it now\n`);
  });
  withConnectionOptions(
    token
      .command('list')
      .description('list tokens: id, role, name, state, created, last used, expiry (never the secret, which is not stored)')
      .option('--json', 'print JSON'),
  ).action(async (flags: ConnectionOptions & { json?: boolean }) => {
    const tokens = await connect(flags).listTokens();
    if (flags.json) printJson(tokens);
    else process.stdout.write(`${renderTokens(tokens)}\n`);
  });
  withConnectionOptions(
    token
      .command('revoke')
      .description('revoke a token by id (see `worksched token list`): every server process refuses it at once')
      .argument('<id>', 'the token id'),
  ).action(async (idArgument: string, flags: ConnectionOptions) => {
    const id = parseIdArgument(idArgument, 'token id');
    const revoked = await connect(flags).revokeToken(id);
    const label = revoked.name ? ` "${revoked.name}"` : revoked.worker ? ` of worker ${revoked.worker}` : '';
    process.stdout.write(`revoked ${revoked.role} token #${revoked.id}${label}\n`);
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

function parseExpiry(value: string): number {
  const seconds = parseDurationSeconds(value);
  if (seconds === null || seconds === 0 || seconds > 365 * 86_400) {
    throw new CliUsageError(`--expires takes a duration up to 365 days such as 3600, 90m, 12h or 30d, got ${JSON.stringify(value)}`);
  }
  return seconds;
}

const TOKEN_COLUMNS: Column[] = [
  { head: 'id' },
  { head: 'role' },
  { head: 'name', shrinkTo: 8 },
  { head: 'state' },
  { head: 'created', dropRank: 2 },
  { head: 'last used', dropRank: 1 },
  { head: 'expires', dropRank: 3 },
];

function tokenState(token: ApiTokenInfo, now: Date): string {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && Date.parse(token.expires_at) <= now.getTime()) return 'expired';
  return 'active';
}

function renderTokens(tokens: ApiTokenInfo[], now: Date = new Date()): string {
  const rows = tokens.map((token) => [
    token.id,
    token.role,
    truncate(token.name ?? (token.worker ? `worker ${token.worker}` : '-'), 40),
    tokenState(token, now),
    formatAge(token.created_at, now),
    token.last_used_at ? formatAge(token.last_used_at, now) : 'never',
    token.expires_at ?? 'never',
  ]);
  return renderTable(TOKEN_COLUMNS, rows);
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
