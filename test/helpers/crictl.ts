// The pieces of an e2e test that drives the daemon with the shared crictl,
// as an operator does: running a tool to its end, the shared scripts that
// start critest's registry and netns (and tear them down), a crictl bound to
// one test daemon and run in that netns, and the pod config crictl reads.

import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths';
import { CRICTL, CRITEST_DIR, CRITEST_NETNS } from './critest';

export interface ToolRun {
  /** The exit code; -1 when killed (the timeout) or not started. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Run argv to its end in the project dir; never rejects: the code says how it went. stdin gets `input`, then EOF. */
export function runTool(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = execFile(argv[0], argv.slice(1), { timeout: opts.timeoutMs ?? 180_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, cwd: projectRoot() }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

interface Hooks {
  before(fn: () => Promise<void>): unknown;
  teardown(fn: () => Promise<void>): unknown;
}

/**
 * Start the shared registry and netns (setup-images.sh) before the tests, and
 * tear them down after. scripts/test runs test files that use them at the
 * same time (the fault stage beside the end-to-end tests): it prepares the
 * world once and says so with VMPOD_CRITEST_WORLD=kept, and then no file
 * sets it up or tears it down, which would pull the netns and registry from
 * under the others.
 */
export function useSharedCritestWorld(t: Hooks): void {
  if (process.env.VMPOD_CRITEST_WORLD === 'kept') {
    t.before(async () => {
      if (!existsSync(CRITEST_NETNS)) throw new Error(`VMPOD_CRITEST_WORLD=kept, but ${CRITEST_NETNS} does not exist: whoever keeps the world runs ${join(CRITEST_DIR, 'setup-images.sh')} first`);
    });
    return;
  }
  t.before(async () => {
    const r = await runTool([join(CRITEST_DIR, 'setup-images.sh')], { timeoutMs: 15 * 60_000 });
    if (r.code !== 0) throw new Error(`setup-images.sh failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  });
  t.teardown(async () => {
    const r = await runTool([join(CRITEST_DIR, 'teardown.sh')], { timeoutMs: 120_000 });
    if (r.code !== 0) process.stderr.write(`critest teardown.sh failed (${r.code}): ${r.stderr.slice(-2000)}\n`);
  });
}

/** argv run in the shared netns, where the daemon's streaming server and the pods' IPs are reached. */
export const inCritestNetns = (argv: string[]): string[] => ['nsenter', `--net=${CRITEST_NETNS}`, '--', ...argv];

export interface Crictl {
  /** The crictl.yaml naming the daemon's socket. */
  yaml: string;
  /** The argv of `crictl <args>` against the daemon, in the shared netns. */
  argv: (...args: string[]) => string[];
  /** Run crictl to its end; its stdout, or an error with its stderr. */
  run: (...args: string[]) => Promise<string>;
}

/** crictl for the daemon listening on `socket`, its crictl.yaml written into `dir`. */
export function crictlFor(d: { dir: string; socket: string }): Crictl {
  const yaml = join(d.dir, 'crictl.yaml');
  writeFileSync(yaml, `runtime-endpoint: unix://${d.socket}\nimage-endpoint: unix://${d.socket}\ntimeout: 240\n`);
  const argv = (...args: string[]): string[] => inCritestNetns([CRICTL, '--config', yaml, ...args]);
  return {
    yaml,
    argv,
    run: async (...args) => {
      const r = await runTool(argv(...args));
      if (r.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    },
  };
}

/** Write the pod config crictl runp reads for a pod of `kind` named `<prefix>-<kind>` (a VM pod by the untrusted annotation); its path. */
export function writeCrictlPod(dir: string, prefix: string, kind: 'runc' | 'vm'): string {
  const path = join(dir, `pod-${kind}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      metadata: { name: `${prefix}-${kind}`, namespace: 'default', uid: `${prefix}-${kind}-uid`, attempt: 0 },
      annotations: kind === 'vm' ? { 'io.kubernetes.cri.untrusted-workload': 'true' } : {},
      log_directory: join(dir, `logs-${kind}`),
      linux: {},
    }),
  );
  return path;
}
