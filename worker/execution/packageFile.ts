import { existsSync } from 'fs';
import { dirname, join } from 'path';

const found = new Map<string, string>();

/**
 * A file shipped in the package beside the code (the python runner, the task spawner's script), found from here
 * both in the sources and in the dist/ build, which does not copy them.
 */
export function packageFilePath(relativePath: string): string {
  const known = found.get(relativePath);
  if (known) return known;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const path = join(dir, relativePath);
    if (existsSync(path)) {
      found.set(relativePath, path);
      return path;
    }
    if (dirname(dir) === dir) throw new Error(`${relativePath} is missing from the package`);
  }
}
