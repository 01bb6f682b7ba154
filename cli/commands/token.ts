import type { Command } from 'commander';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';

const ISSUABLE_ROLES = ['client', 'operator', 'admin', 'enrollment'] as const;
type IssuableRole = (typeof ISSUABLE_ROLES)[number];

interface TokenCreateFlags extends ConnectionOptions {
  role: string;
  name?: string;
}

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage API tokens (needs an admin token)');
  withConnectionOptions(
    token
      .command('create')
      .description('create an API token; prints only the token, so TOKEN=$(worksched token create --role client) works')
      .requiredOption('--role <role>', `what the token may do: ${ISSUABLE_ROLES.join(', ')}`)
      .option('--name <name>', 'a name to recognise the token by'),
  ).action(async (flags: TokenCreateFlags) => {
    const role = parseRole(flags.role);
    const created = await connect(flags).createToken(role, flags.name);
    process.stdout.write(`${created.token}\n`);
    const label = created.name ? ` "${created.name}"` : '';
    process.stderr.write(`created ${created.role} token #${created.id}${label}; it is shown only this once, so store it now\n`);
  });
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
