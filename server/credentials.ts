import fs from 'node:fs';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ensureApiToken, generateToken } from './tokens';
import { credentialsPath, readCredentialsFile, type CredentialsFile } from '../common/credentialsFile';

/**
 * The admin and enrollment tokens: from the environment, else from an earlier start's credentials file, else
 * new ones. Their hashes are made valid in the database, and the file (mode 600) records them with the URL
 * so that the CLI and a local worker find them without being told.
 */
export async function bootstrapCredentials(
  em: EntityManager,
  options: { dataDir: string; serverUrl: string; adminToken?: string; enrollmentToken?: string },
): Promise<{ adminToken: string; enrollmentToken: string; file: string }> {
  const saved = readCredentialsFile(options.dataDir) ?? {};
  const adminToken = options.adminToken ?? saved.admin_token ?? generateToken();
  const enrollmentToken = options.enrollmentToken ?? saved.enrollment_token ?? generateToken();
  await ensureApiToken(em, 'admin', adminToken, 'bootstrap admin');
  await ensureApiToken(em, 'enrollment', enrollmentToken, 'bootstrap enrollment');
  const file = credentialsPath(options.dataDir);
  fs.mkdirSync(options.dataDir, { recursive: true });
  const content: CredentialsFile = { server_url: options.serverUrl, admin_token: adminToken, enrollment_token: enrollmentToken };
  fs.writeFileSync(file, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return { adminToken, enrollmentToken, file };
}
