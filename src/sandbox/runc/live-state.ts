// The state of runc containers and pods answered from memory, as containerd
// answers from what its shims told it. kubelet relists every container and
// pod every second; asking runc (a process per pod) or reading /proc (two
// files per container) on each call made those calls grow with the node.
//
// What is known: conmon writes an exit file when the process it watches ends
// (ExitIndex keeps the names, exact at each call); the controller knows a
// container is running once `runc start` returned. A container with no exit
// file whose init still exists is as it was last seen. Whether it exists is
// an event, not a question: a pidfd per init (host/pid-watch.ts) tells when
// it exits, so a list asks nothing per container. Without a watch (no
// addon, no fd to be had) kill(pid, 0) asks, one syscall per call, as before.
// Only when the init is gone without an exit file (conmon killed, or the file
// not written yet), or when nothing is known yet (a daemon restart), is the
// full check made, and its answer remembered.
//
// A PID can be reused once its process is gone (a pidfd cannot: it names the
// process). That matters only when conmon died first (else the exit file is
// there), and the full check, which also asks whether the PID sits in the
// container's cgroup, is made again at least every VERIFY_MS for each
// container and pod.

import type { ContainerProcessState } from '../controller';
import type { PidWatchResult } from '../../host/pid-watch';

export const VERIFY_MS = 30_000;

type Live = 'created' | 'running';

interface Known {
  state: Live;
  pid: number;
  verifiedAt: number;
  /** The init's exit as an event (null: none to be had, probe with kill(pid, 0) instead). */
  watch: { close(): void } | null;
  /** The watch saw the init exit. */
  gone: boolean;
}

export interface LiveProbes {
  /** conmon's exit file for `id` exists (ExitIndex.has). */
  exitWritten(id: string): boolean;
  /** The exit file's contents (null if it vanished meanwhile). */
  readExit(id: string): ContainerProcessState | null;
  /** A process with this PID exists. */
  pidAlive(pid: number): boolean;
  /** Calls onExit when the process exits (host/pid-watch.ts watchPidExit). */
  watchExit(pid: number, onExit: () => void): PidWatchResult;
  now(): number;
}

/** kill(pid, 0): exists (EPERM: exists but not ours, which cannot be a container's init under a root daemon). */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LiveStates {
  private readonly containers = new Map<string, Known>();
  private readonly exited = new Map<string, ContainerProcessState>();
  private readonly pods = new Map<string, Known>();

  constructor(private readonly probes: LiveProbes) {}

  /**
   * The container's state without asking runc or /proc when memory and one
   * syscall suffice; `full` is the complete check (container.ts), `pid` its
   * init PID as the handle records it (0: a restored container not started).
   */
  async container(id: string, pid: number, full: () => Promise<ContainerProcessState>): Promise<ContainerProcessState> {
    const done = this.exitedState(id);
    if (done) return done;
    const k = this.containers.get(id);
    if (k && k.pid === pid && this.fresh(k)) return live(k.state);
    const st = await full();
    if (st.state === 'created' && pid === 0) {
      // Not made by runc yet: only this controller's start changes that, and it says so (started).
      this.set(this.containers, id, 'created', 0, this.probes.now());
    } else if ((st.state === 'created' || st.state === 'running') && pid > 0) {
      // A `runc start` that returned meanwhile has the last word.
      const started = this.containers.get(id)?.state === 'running' ? 'running' : st.state;
      this.set(this.containers, id, started, pid, this.probes.now());
    } else {
      this.drop(this.containers, id);
      if (st.state === 'exited') this.exited.set(id, st);
    }
    return st;
  }

  /** `runc start` returned: the container runs (until its exit file says otherwise), its init `pid` as runc made it just now. */
  started(id: string, pid: number): void {
    this.set(this.containers, id, 'running', pid, this.probes.now());
  }

  /** Verified within VERIFY_MS, and its init not known to have exited (a container with no init yet has none to exit). */
  private fresh(k: Known): boolean {
    if (this.probes.now() - k.verifiedAt >= VERIFY_MS) return false;
    if (k.pid === 0) return true;
    return k.watch ? !k.gone : this.probes.pidAlive(k.pid);
  }

  /** Record what is known of `id`, keeping the watch of the same init (a new PID gets a new one). */
  private set(map: Map<string, Known>, id: string, state: Live, pid: number, verifiedAt: number): void {
    const k = map.get(id);
    if (k && k.pid === pid && !k.gone) {
      k.state = state;
      k.verifiedAt = verifiedAt;
      return;
    }
    k?.watch?.close();
    const entry: Known = { state, pid, verifiedAt, watch: null, gone: false };
    map.set(id, entry);
    if (pid === 0) return;
    const w = this.probes.watchExit(pid, () => {
      entry.gone = true;
    });
    if (w === 'gone') entry.gone = true;
    else entry.watch = w;
  }

  private drop(map: Map<string, Known>, id: string): void {
    map.get(id)?.watch?.close();
    map.delete(id);
  }

  /** The exit file as read once: it never changes after conmon wrote it. */
  exitedState(id: string): ContainerProcessState | null {
    const had = this.exited.get(id);
    if (had) return had;
    if (!this.probes.exitWritten(id)) return null;
    const st = this.probes.readExit(id);
    if (st) {
      this.exited.set(id, st);
      this.drop(this.containers, id);
    }
    return st;
  }

  /** Whether the pod's infra runs: false once its exit file exists; `full` asks runc. */
  async podReady(id: string, infraPid: number, full: () => Promise<boolean>): Promise<boolean> {
    if (this.probes.exitWritten(id)) {
      this.drop(this.pods, id);
      return false;
    }
    const k = this.pods.get(id);
    if (k && k.pid === infraPid && this.fresh(k)) return true;
    const ready = await full();
    if (ready && infraPid > 0) this.set(this.pods, id, 'running', infraPid, this.probes.now());
    else this.drop(this.pods, id);
    return ready;
  }

  /** Removed: nothing of it is kept. */
  forget(id: string): void {
    this.drop(this.containers, id);
    this.exited.delete(id);
    this.drop(this.pods, id);
  }

  /** Entries held (a leak check: 0 once everything is removed). */
  get size(): number {
    return this.containers.size + this.exited.size + this.pods.size;
  }
}

function live(state: Live): ContainerProcessState {
  return { state, exitCode: 0, finishedAt: '0', oomKilled: false };
}
