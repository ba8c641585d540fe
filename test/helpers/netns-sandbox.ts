// A throw-away "node" network namespace for network tests: CNI plugins run
// inside it (so the bridge, veths and iptables rules land there, never on the
// host), and everything dies with it. Pinned to a file in a temp dir;
// `destroy` kills what the test started in it, unpins and removes the dir.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NetnsSandbox {
  /** Temp dir holding the pin (and anything else the test wants to put there). */
  dir: string;
  /** The pinned outer ("node") netns. */
  netns: string;
  /** Run argv inside `netns` (or another pinned netns), synchronously; throws on non-zero exit. */
  exec(argv: string[], netns?: string): string;
  /** Like exec but returns the exit status (-1 when killed by the timeout or a signal) and output without throwing. */
  tryExec(argv: string[], netns?: string, timeoutMs?: number): { status: number; stdout: string; stderr: string };
  /** Start a long-running process inside a netns; killed (by PID) on destroy. */
  spawnIn(argv: string[], netns?: string): ChildProcess;
  /** Create another pinned netns under `dir` (e.g. a stand-in pod); unpinned on destroy. */
  extraNetns(name: string): string;
  destroy(): void;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && m.startsWith(dir + '/'))
    .reverse();
}

function nsArgv(netns: string, argv: string[]): string[] {
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

export function createNetnsSandbox(prefix = 'vmpod-nettest-'): NetnsSandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const pins: string[] = [];
  const children: ChildProcess[] = [];
  const pin = (path: string) => {
    writeFileSync(path, '');
    const r = spawnSync('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`netns-sandbox: unshare --net=${path} failed (needs root and util-linux unshare): ${r.stderr}`);
    pins.push(path);
    return path;
  };
  const netns = pin(join(dir, 'node-netns'));
  const tryExec = (argv: string[], ns = netns, timeoutMs = 30_000) => {
    const full = nsArgv(ns, argv);
    const r = spawnSync(full[0], full.slice(1), { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
    const how = r.signal ? ` (killed by ${r.signal})` : '';
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') + how };
  };
  return {
    dir,
    netns,
    tryExec,
    exec(argv, ns = netns) {
      const r = tryExec(argv, ns);
      if (r.status !== 0) throw new Error(`netns-sandbox: ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout;
    },
    spawnIn(argv, ns = netns) {
      const full = nsArgv(ns, argv);
      const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      return child;
    },
    extraNetns(name) {
      return pin(join(dir, name));
    },
    destroy() {
      for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const p of pins.reverse()) spawnSync('umount', ['--lazy', p]);
      // Pins the code under test made below dir (e.g. pod netns under a state dir there) must go too.
      for (const m of mountsUnder(dir)) spawnSync('umount', ['--lazy', m]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
