/** The password file initdb reads (--pwfile): readable by no other user at any moment, deleted after use. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SystemUser } from './systemUser';

/**
 * Runs `use` with a file holding `password`, in a new directory under `parentDir`. The directory is made with
 * mode 700 (mkdtemp) and the file with mode 600 and O_EXCL, so the umask can only narrow them; both are handed to
 * `owner` (the user initdb runs as) only after they exist with those modes. Removed whatever `use` does.
 */
export async function withPasswordFile<T>(
  parentDir: string,
  password: string,
  owner: SystemUser | undefined,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const directory = await fs.mkdtemp(path.join(parentDir, '.initdb-password-'));
  try {
    const file = path.join(directory, 'password');
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.writeFile(`${password}\n`);
      if (owner) await handle.chown(owner.uid, owner.gid);
    } finally {
      await handle.close();
    }
    if (owner) await fs.chown(directory, owner.uid, owner.gid);
    return await use(file);
  } finally {
    await fs.rm(directory, { recursive: true, force: true });
  }
}
