// One operation at a time per pod or container id: kubelet may, for example,
// stop a pod while a CreateContainer for it is still running. Calls on
// different ids run concurrently. The PodService owns one set.

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

  /** Keys with an operation running or queued (a leak check for tests). */
  get size(): number {
    return this.tails.size;
  }
}
