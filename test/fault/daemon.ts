// The real daemon (dist/src/main.js serve) on one directory that outlives
// it: started, SIGKILLed by the PID we spawned, and started again on the
// same root, state and socket, as a node restarts its runtime. It runs in
// the shared critest netns (CNI bridge, registry on its 127.0.0.1:5000), as
// the crictl e2e stage does.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { criClient, type CriClient } from '../helpers/cri-client';
import { CRITEST_NETNS, critestDaemonConfig } from '../helpers/critest';
import { spawnDaemon, waitFor } from '../helpers/daemon';

export class FaultDaemon {
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  readonly configPath: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private output: () => string = () => '';
  private current: CriClient | undefined;
  /** How many times it was started; each start is a recovery after the first. */
  starts = 0;

  constructor(readonly dir: string) {
    this.socket = join(dir, 'vmpod.sock');
    this.root = join(dir, 'root');
    this.state = join(dir, 'state');
    this.configPath = join(dir, 'vmpod.toml');
    mkdirSync(dir, { recursive: true });
    writeFileSync(this.configPath, `log_level = "info"\nshutdown_timeout_s = 5\n${critestDaemonConfig()}\n`);
  }

  get client(): CriClient {
    if (!this.current) throw new Error('the daemon is not running');
    return this.current;
  }

  /** The running daemon's PID (node itself: nsenter execs it). */
  get pid(): number {
    if (!this.proc?.pid) throw new Error('the daemon is not running');
    return this.proc.pid;
  }

  /** The log of the running (or last) daemon. */
  log(): string {
    return this.output();
  }

  /** The log of the daemon before this one (the one killed last). */
  previousLog = '';

  async start(): Promise<void> {
    if (this.proc) throw new Error('the daemon is already running');
    this.previousLog = this.output();
    const s = spawnDaemon(['serve', '--config', this.configPath, '--listen', this.socket, '--root', this.root, '--state', this.state], undefined, CRITEST_NETNS);
    this.proc = s.proc;
    this.exited = s.exited;
    this.output = s.output;
    let code: number | null | undefined;
    void s.exited.then((c) => (code = c));
    try {
      await waitFor(() => code !== undefined || /"vmpod serving"/.test(s.output()), 60_000, `vmpod to serve on ${this.socket}`);
    } catch (err) {
      await this.kill();
      throw new Error(`${(err as Error).message}\n--- daemon output ---\n${s.output().slice(-4000)}`, { cause: err });
    }
    if (code !== undefined) {
      this.proc = undefined;
      throw new Error(`vmpod exited with ${code} before serving:\n${s.output().slice(-4000)}`);
    }
    this.starts++;
    this.current = criClient(this.socket);
  }

  /** SIGKILL, as the OOM killer or a node crash does; resolves once it is dead. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  /** SIGTERM, a clean stop; resolves with the exit code. */
  async stop(): Promise<number | null> {
    return this.end('SIGTERM');
  }

  private async end(signal: NodeJS.Signals): Promise<number | null> {
    const proc = this.proc;
    if (!proc) return null;
    this.current?.close();
    this.current = undefined;
    proc.kill(signal);
    const code = await this.exited!;
    this.proc = undefined;
    return code;
  }
}
