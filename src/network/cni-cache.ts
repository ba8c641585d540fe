// What was used for a pod's CNI ADD, persisted before the ADD runs and
// completed after it: DEL must run with the same config, args and
// runtimeConfig (the conf dir may have changed since), must work after a
// daemon restart, and must happen even when the daemon died mid-ADD — hence
// the entry is written first with `result: null`.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isTempName, readJson, removeAtomic, writeJsonAtomic } from '../store/atomic';
import type { CniConfList, CniRuntimeConfig } from './types';

export interface CniCacheEntry {
  version: 1;
  podId: string;
  netnsPath: string;
  ifName: string;
  /** CNI_ARGS as passed on ADD. */
  args: string;
  /** The conflist used for ADD, verbatim. */
  config: CniConfList;
  runtimeConfig: CniRuntimeConfig;
  /** Raw result of the last plugin; null until ADD completed. */
  result: unknown;
}

export class CniCache {
  constructor(private readonly dir: string) {}

  private path(podId: string): string {
    return join(this.dir, `${podId}.json`);
  }

  save(entry: CniCacheEntry): void {
    writeJsonAtomic(this.path(entry.podId), entry);
  }

  /** The entry, or undefined when there is none (or it is unreadable: a torn file cannot be, writes are atomic). */
  load(podId: string): CniCacheEntry | undefined {
    try {
      const e = readJson<CniCacheEntry>(this.path(podId));
      return e && e.version === 1 && e.podId === podId ? e : undefined;
    } catch {
      return undefined;
    }
  }

  /** With the temp file a save interrupted by a daemon crash left beside it. */
  remove(podId: string): void {
    removeAtomic(this.path(podId));
  }

  /** Pod ids with an entry, for start-up reconciliation. */
  list(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => n.endsWith('.json') && !isTempName(n)).map((n) => n.slice(0, -'.json'.length));
  }
}
