// Counts the timeouts a module has pending: setTimeout and clearTimeout are
// wrapped, and a timeout counts while it is neither fired nor cleared if the
// stack that set it names `module` (a file name pattern). For timers that are
// unreferenced, which process.getActiveResourcesInfo() does not list.

/** Pending timeouts set from `module`; restore() puts the real functions back. */
export function trackTimeouts(module: RegExp): { live(): number; restore(): void } {
  const live = new Set<unknown>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
    const ours = module.test(new Error().stack ?? '');
    const h = realSet(
      (...a: unknown[]) => {
        live.delete(h);
        fn(...a);
      },
      ms,
      ...rest,
    );
    if (ours) live.add(h);
    return h;
  }) as typeof setTimeout;
  globalThis.clearTimeout = (h?: Parameters<typeof clearTimeout>[0]) => {
    live.delete(h);
    realClear(h);
  };
  return {
    live: () => live.size,
    restore: () => {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}
