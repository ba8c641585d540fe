// Starts the real vmpod daemon (dist/src/main.js serve) as a child process on
// a temporary socket with temporary root and state, and stops it in teardown.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criClient, type CriClient } from './cri-client';

export const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

/** The repository's systemd unit (systemd/vmpod.service): how the daemon is started once installed. */
export const UNIT = join(__dirname, '..', '..', '..', 'systemd', 'vmpod.service');

/**
 * The node options on the unit's ExecStart line, between the node binary and
 * main.js (V8 heap sizing: docs/performance.md says why), so that every test
 * and bench runs the daemon with the options it is installed with. Pure.
 */
export function unitNodeFlags(unit: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  const words = line?.trim().split(/\s+/) ?? [];
  const main = words.findIndex((w) => w.endsWith('/dist/src/main.js'));
  if (main < 1) throw new Error(`the unit's ExecStart does not run <node> [options] .../dist/src/main.js: ${JSON.stringify(line ?? '(no ExecStart)')}`);
  return words.slice(1, main);
}

export interface TestDaemon {
  dir: string;
  socket: string;
  root: string;
  state: string;
  configPath: string;
  proc: ChildProcess;
  client: CriClient;
  /** Everything the daemon wrote to stderr (its JSON log). */
  log(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface DaemonOptions {
  /** TOML appended to the generated config. */
  config?: string;
  /** The daemon's log level (default debug: tests read the log). */
  logLevel?: string;
  /** Reuse directories of an earlier daemon (restart tests). */
  dir?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Run the daemon inside this pinned network namespace (network tests keep CNI state out of the host). */
  netns?: string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Mounts under `dir` once a daemon using it has removed every pod and
 * stopped: each one is a leak. `<state>/netns` is left out: it is the
 * daemon's own shared bind mount that pins pod netns files (as `ip netns`
 * does), made once and kept across restarts; the test's teardown unmounts it.
 */
export function leftoverMounts(dir: string, state: string): string[] {
  return mountPointsUnder(dir).filter((m) => m !== join(state, 'netns'));
}

/** Mount points below `dir`, in mount order. */
export function mountPointsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
}

/** Stop and remove every pod the daemon knows, as kubelet would; errors are ignored (best effort, for clean-up). */
export async function removeAllPods(client: CriClient): Promise<void> {
  try {
    const { items } = await client.runtime.ListPodSandbox({});
    for (const p of items) {
      await client.runtime.StopPodSandbox({ pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
      await client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
    }
  } catch {
    // the daemon does not answer: nothing more to do from here
  }
}

export function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > until) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

export function spawnDaemon(args: string[], env?: NodeJS.ProcessEnv, netns?: string): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // nsenter execs node, so proc.pid is the daemon's own pid either way.
  // The unit's node options first; VMPOD_DAEMON_NODE_ARGS: more node options for the daemon alone (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`,
  // which NODE_OPTIONS does not allow), after them so that one given again wins.
  const node = [process.execPath, ...unitNodeFlags(readFileSync(UNIT, 'utf8')), ...(process.env.VMPOD_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []), MAIN];
  const argv = netns ? ['nsenter', `--net=${netns}`, '--', ...node, ...args] : [...node, ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  // VMPOD_DAEMON_LOG: also append the daemon's output to this file (to read a bench's phase logs after it).
  const copyTo = process.env.VMPOD_DAEMON_LOG;
  const take = (d: Buffer) => {
    out += d.toString();
    if (copyTo) appendFileSync(copyTo, d);
  };
  proc.stdout.on('data', take);
  proc.stderr.on('data', take);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

export async function startDaemon(t: Teardown, opts: DaemonOptions = {}): Promise<TestDaemon> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vmpod-test-'));
  const socket = join(dir, 'vmpod.sock');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const configPath = join(dir, 'vmpod.toml');
  writeFileSync(configPath, `log_level = "${opts.logLevel ?? 'debug'}"\nshutdown_timeout_s = 5\n${opts.config ?? ''}\n`);
  const { proc, output, exited } = spawnDaemon(['serve', '--config', configPath, '--listen', socket, '--root', root, '--state', state, ...(opts.extraArgs ?? [])], opts.env, opts.netns);
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  await waitFor(() => exitCode !== undefined || /"vmpod serving"/.test(output()), 30_000, `vmpod to serve on ${socket}`).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\n--- daemon output ---\n${output()}`);
  });
  if (exitCode !== undefined) throw new Error(`vmpod exited with ${exitCode} before serving:\n${output()}`);
  const client = criClient(socket);
  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      client.close();
      if (exitCode === undefined) proc.kill('SIGTERM');
      return exited;
    })();
    return stopped;
  };
  t.teardown(async () => {
    // Pods outlive the daemon by design (VMs, conmon): a test that failed half-way
    // must not leave its pods running, so a daemon still up removes them first.
    if (exitCode === undefined && !stopped) await removeAllPods(client);
    await stop();
    // Never rm -rf through a mount: a pinned netns dir, or whatever a failed test left mounted.
    for (const m of mountPointsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    if (!opts.dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socket, root, state, configPath, proc, client, log: output, stop };
}
