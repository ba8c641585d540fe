// Bounded parallelism for setting up and tearing down many pods: a 2-core
// machine gains little beyond a few calls in flight, and a runtime should
// not be flooded while the bench only prepares the thing it measures.

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first error once the calls in flight have settled. */
export async function inPool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  if (!(limit >= 1)) throw new RangeError(`pool limit ${limit} must be at least 1`);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}
