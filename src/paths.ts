import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'proto'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`vmpod: cannot find the package root above ${__dirname}`);
    dir = up;
  }
  return dir;
}

const ROOT = findRoot();

/** The repository / package root (where package.json and proto/ live), found from the compiled file's location. */
export function projectRoot(): string {
  return ROOT;
}
