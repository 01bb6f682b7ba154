import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** `<dataDir>/credentials.json`: what a local server generated, read by the CLI and local workers. No ORM here. */
const credentialsFileSchema = z.object({
  server_url: z.string().optional(),
  admin_token: z.string().optional(),
  enrollment_token: z.string().optional(),
});
export type CredentialsFile = z.infer<typeof credentialsFileSchema>;

export function credentialsPath(dataDir: string): string {
  return path.join(dataDir, 'credentials.json');
}

export function readCredentialsFile(dataDir: string): CredentialsFile | null {
  try {
    return credentialsFileSchema.parse(JSON.parse(fs.readFileSync(credentialsPath(dataDir), 'utf8')));
  } catch {
    return null;
  }
}

