import { readFileSync } from 'node:fs';

/**
 * The file's text, or '' if it cannot be read (not there yet, or gone).
 * Synchronous on purpose: its callers read sysfs, procfs and pid files,
 * which answer at once, and each trip through libuv's thread pool costs the
 * guest a few milliseconds under TCG.
 */
export function readTextIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
