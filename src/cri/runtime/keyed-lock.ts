// One operation at a time per pod or container id: kubelet may, for example,
// stop a pod while a CreateContainer for it is still running. Calls on
// different ids run concurrently.

export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export interface RuntimeLocks {
  /** Pod-level changes, keyed by pod id. */
  pods: KeyedLock;
  /** Container-level changes, keyed by container id. */
  containers: KeyedLock;
}

const byDeps = new WeakMap<object, RuntimeLocks>();

/** The locks of one daemon instance (one RuntimeDeps). */
export function locksOf(deps: object): RuntimeLocks {
  let l = byDeps.get(deps);
  if (!l) byDeps.set(deps, (l = { pods: new KeyedLock(), containers: new KeyedLock() }));
  return l;
}
