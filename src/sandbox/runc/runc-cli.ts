// The runc command line, one method per subcommand vmpod uses. Every call
// passes `--root` so that vmpod's containers live apart from any other runc
// user on the host.

import type { OciResources } from '../../oci/types';
import { CommandFailedError, run } from './exec-file';

export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuncState {
  id: string;
  pid: number;
  status: RuncStatus;
  bundle: string;
  created: string;
}

/** The subset of `runc events --stats` vmpod reads. */
export interface RuncStats {
  cpu?: { usage?: { total?: number; user?: number; kernel?: number } };
  memory?: {
    usage?: { usage?: number; limit?: number };
    raw?: Record<string, number>;
    cache?: number;
  };
  pids?: { current?: number };
}

const TIMEOUT_MS = 60_000;

export class Runc {
  constructor(
    readonly root: string,
    readonly binary = 'runc',
  ) {}

  private run(args: string[], opts: { allowFailure?: boolean; input?: string } = {}) {
    return run(this.binary, ['--root', this.root, ...args], { timeoutMs: TIMEOUT_MS, ...opts });
  }

  /** null when runc does not know the container. */
  async state(id: string): Promise<RuncState | null> {
    const r = await this.run(['state', id], { allowFailure: true });
    if (r.code !== 0) {
      if (/does not exist|not found/.test(r.stderr)) return null;
      throw new CommandFailedError([this.binary, 'state', id], r);
    }
    return JSON.parse(r.stdout) as RuncState;
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  /** Signals the init process (or all processes with `all`); a container already gone is not an error. */
  async kill(id: string, signal: number, all = false): Promise<void> {
    const r = await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)], { allowFailure: true });
    if (r.code !== 0 && !/not running|does not exist|process already finished|no such process/i.test(r.stderr)) {
      throw new CommandFailedError([this.binary, 'kill', id, String(signal)], r);
    }
  }

  /** Idempotent: deleting an unknown container succeeds. */
  async delete(id: string, force = true): Promise<void> {
    const r = await this.run(['delete', ...(force ? ['--force'] : []), id], { allowFailure: true });
    if (r.code !== 0 && !/does not exist|not found/.test(r.stderr)) throw new CommandFailedError([this.binary, 'delete', id], r);
  }

  async update(id: string, resources: OciResources): Promise<void> {
    await this.run(['update', '--resources', '-', id], { input: JSON.stringify(resources) });
  }

  async stats(id: string): Promise<RuncStats> {
    const r = await this.run(['events', '--stats', id]);
    const ev = JSON.parse(r.stdout) as { data?: RuncStats };
    return ev.data ?? {};
  }

  /** PIDs of every process in the container. */
  async ps(id: string): Promise<number[]> {
    const r = await this.run(['ps', '--format', 'json', id]);
    return (JSON.parse(r.stdout) as number[] | null) ?? [];
  }
}
