// Container lifecycle events (CRI GetContainerEvents, kubelet's evented
// PLEG): one event per committed transition of a container or a pod sandbox,
// published by the lifecycle code right after the record changed, fanned out
// to every subscriber. Each event carries a snapshot of the pod and of its
// containers as they were at that instant, so a subscriber converts it later
// without reading the stores again.
//
// Nothing is kept for who is not listening: an event published with no
// subscriber is gone (kubelet relists when it (re)connects). A subscriber
// that falls `bound` events behind is dropped: its queue is freed and its
// stream ends with RESOURCE_EXHAUSTED, so one stuck client cannot make the
// daemon buffer without bound, and the others keep receiving.

import { ResourceExhaustedError, UnavailableError } from '../../common/errors';
import { nowNs } from '../../common/time';
import type { ContainerRecord, ContainerStore } from '../store/container';
import type { SandboxRecord, SandboxStore } from '../store/sandbox';

/** The CRI ContainerEventType names. */
export type PodEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export interface PodEvent {
  /** A container's id, or the pod sandbox's own id for a pod's transition (as containerd sends it). */
  containerId: string;
  type: PodEventType;
  /** Unix nanoseconds, as a decimal string. */
  createdAt: string;
  /** The pod as it was; for a pod's DELETED event, its last record. */
  pod: SandboxRecord;
  /** The pod's containers as they were (a deleted container is no longer among them). */
  containers: ContainerRecord[];
}

/** containerd's CRI plugin buffers 1000 events. */
export const DEFAULT_EVENT_BOUND = 1000;

export interface EventSubscription extends AsyncIterable<PodEvent> {
  /** Ends the iteration (done, no error) and unsubscribes; idempotent. */
  close(): void;
}

class Subscriber implements EventSubscription {
  private queue: PodEvent[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  constructor(
    private readonly bound: number,
    private readonly unsubscribe: (s: Subscriber) => void,
  ) {}

  push(e: PodEvent): void {
    if (this.ended) return;
    if (this.queue.length >= this.bound) {
      this.end(new ResourceExhaustedError(`container event subscriber fell ${this.bound} events behind and was dropped; subscribe again and relist`));
      return;
    }
    this.queue.push(e);
    this.wakeUp();
  }

  /** Ends the subscription: with `err`, the iteration throws it once the queue is dropped. */
  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    // A dropped subscriber's backlog is freed at once, not when it finally reads.
    if (err) this.queue = [];
    this.unsubscribe(this);
    this.wakeUp();
  }

  close(): void {
    this.end();
  }

  get pending(): number {
    return this.queue.length;
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PodEvent> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.ended) {
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // The consumer stopped early (break, return, a throw): unsubscribe.
      this.close();
    }
  }
}

/** The bounded broadcaster. */
export class PodEvents {
  private readonly subs = new Set<Subscriber>();
  private closed = false;

  constructor(private readonly bound = DEFAULT_EVENT_BOUND) {}

  subscribe(bound = this.bound): EventSubscription {
    const s = new Subscriber(bound, (x) => this.subs.delete(x));
    if (this.closed) s.end(new UnavailableError('vmpod is shutting down; subscribe to the restarted daemon'));
    else this.subs.add(s);
    return s;
  }

  publish(e: PodEvent): void {
    for (const s of [...this.subs]) s.push(e);
  }

  /** Daemon shutdown: every stream ends with UNAVAILABLE; later subscribes fail the same way. */
  close(): void {
    this.closed = true;
    for (const s of [...this.subs]) s.end(new UnavailableError('vmpod is shutting down; subscribe to the restarted daemon'));
  }

  /** Subscribers now (a leak check: 0 once every client went away). */
  get subscribers(): number {
    return this.subs.size;
  }
}

/** What publishing reads of the pod domain: its stores and its broadcaster (a Domain is one). */
export interface EventSource {
  sandboxes: Pick<SandboxStore, 'get'>;
  containers: Pick<ContainerStore, 'list'>;
  events: PodEvents;
}

/** Publish a transition of container `containerId` (or of the pod itself: its id) of pod `podSandboxId`. */
export function publishEvent(d: EventSource, type: PodEventType, podSandboxId: string, containerId: string, podSnapshot?: SandboxRecord): void {
  // Nobody listening: nothing to build (and nothing is kept, see above).
  if (d.events.subscribers === 0) return;
  const pod = d.sandboxes.get(podSandboxId) ?? podSnapshot;
  // kubelet reads the pod's uid from every event: without the pod there is nothing it could use.
  if (!pod) return;
  const containers = d.containers.list().filter((c) => c.podSandboxId === podSandboxId);
  d.events.publish({ containerId, type, createdAt: nowNs(), pod, containers });
}
