// CRI messages built once per record version. kubelet lists every container
// and pod every second, and building each one's message again on every call
// was per-container work that nothing had changed (issue 18 profile).
//
// Exact by construction: the stores freeze their records and replace them on
// every change (store/record-store.ts: update() makes a new object), so one
// record object is one version of the record, and a message kept by the
// record's identity can never be stale. A state change, an exit recorded by
// the next status call, a resource update: each is a new record object and
// so a new message. A removed record is dropped with the WeakMap's key.

export class MessageCache<R extends object, M extends object> {
  private readonly built = new WeakMap<R, Readonly<M>>();

  constructor(private readonly build: (record: R) => M) {}

  /**
   * The message of `record`, built on the first call for this object. It is
   * frozen: it is shared by every answer until the record changes, and the
   * server encodes a frozen list entry once (cri/encode-cache.ts).
   */
  of(record: R): Readonly<M> {
    let m = this.built.get(record);
    if (!m) {
      m = Object.freeze(this.build(record));
      this.built.set(record, m);
    }
    return m;
  }
}
