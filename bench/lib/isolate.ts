// Runs a benchmark inside its own network, mount and PID namespaces, so that
// everything it starts is contained and removed with it:
//   * network: daemons, CNI bridges, veths, iptables rules and the loopback
//     registry live in a namespace that disappears with the run;
//   * mount: a private tmpfs on /run (netns pins, shim sockets, runc state)
//     and on /var/lib (for /var/lib/cni: the CNI result cache and host-local
//     leases, which containerd's libcni keeps there whatever it is told), and
//     every overlay or bind mount a runtime makes, vanish when the
//     namespace's last process ends. All of /var/lib rather than just
//     /var/lib/cni because that needs a mountpoint on the host, and a host
//     rmdir of it (since Linux 3.18 allowed while it is mounted elsewhere)
//     silently detaches our tmpfs, sending the leases to the host's disk.
//     Nothing the bench runs reads /var/lib: every daemon gets its root in
//     the work dir;
//   * PID: tini is PID 1 (it reaps what daemons orphan, e.g. shims and conmon)
//     and when it exits the kernel kills every process left in the namespace.
// The outer process forwards Ctrl-C to the inner run (so it can remove pods
// through the API first), then removes what the kernel does not: the cgroup
// directories the inner run registered, and the work dir.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Set in the inner run: its work dir (also its TMPDIR). */
export const WORKDIR_ENV = 'VMPOD_BENCH_WORKDIR';

const CGROUPS_FILE = 'cgroup-parents';
const CGROUP_ROOT = '/sys/fs/cgroup';

/** The inner run's work dir, or undefined in the outer process. */
export function isolatedWorkDir(): string | undefined {
  return process.env[WORKDIR_ENV] || undefined;
}

/** Tells the outer process to remove this cgroup parent (relative path, e.g. `vmpod-bench-1a2b`) in every hierarchy at the end. */
export function registerCgroupParent(workDir: string, parent: string): void {
  // Not "." or "..": the outer process removes this dir tree in every hierarchy.
  if (!/^[A-Za-z0-9._-]+$/.test(parent) || parent === '.' || parent === '..') throw new Error(`cgroup parent "${parent}" must be one plain path component`);
  appendFileSync(join(workDir, CGROUPS_FILE), `${parent}\n`);
}

/** A fresh cgroup parent for this run's pods (`vmpod-bench-<random>`), registered for removal at the end. */
export function newCgroupParent(workDir: string): string {
  const parent = `vmpod-bench-${randomBytes(4).toString('hex')}`;
  registerCgroupParent(workDir, parent);
  return parent;
}

/** The shell run as the new namespaces' first process: private /run and /var/lib, loopback up, then tini as PID 1 in its own session (Ctrl-C reaches only the outer process, which forwards it). */
export const WRAPPER = [
  'set -e',
  'mount -t tmpfs -o mode=0755 vmpod-bench-run /run',
  'mkdir -p /run/lock',
  'mount -t tmpfs -o mode=0755 vmpod-bench-varlib /var/lib',
  'mkdir -p /var/lib/cni',
  'ip link set lo up',
  'exec setsid tini -- "$@"',
].join('\n');

function need(bin: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`]);
  if (r.status !== 0) throw new Error(`${bin} is missing: install the Debian package ${pkg}`);
}

/** Depth-first rmdir of `dir` (cgroup dirs can only be removed empty of children, and their files cannot be unlinked). */
function rmdirTree(dir: string): string[] {
  const failed: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) failed.push(...rmdirTree(join(dir, e.name)));
  try {
    rmdirSync(dir);
  } catch (err) {
    failed.push(`${dir}: ${(err as NodeJS.ErrnoException).code}`);
  }
  return failed;
}

export function removeCgroupParents(workDir: string): string[] {
  const file = join(workDir, CGROUPS_FILE);
  if (!existsSync(file)) return [];
  const parents = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  const failed: string[] = [];
  for (const h of readdirSync(CGROUP_ROOT)) {
    for (const p of parents) {
      const dir = join(CGROUP_ROOT, h, p);
      if (existsSync(dir) && statSync(dir).isDirectory()) failed.push(...rmdirTree(dir));
    }
  }
  return failed;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Outer side: re-runs `script` with `args` inside fresh namespaces and waits.
 * Resolves with the inner run's exit code after everything is removed.
 */
export async function runIsolated(script: string, args: readonly string[]): Promise<number> {
  need('unshare', 'util-linux');
  need('setsid', 'util-linux');
  need('tini', 'tini');
  need('ip', 'iproute2');
  const work = mkdtempSync('/tmp/vmpod-bench-');
  const child = spawn(
    'unshare',
    ['--net', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--', 'sh', '-c', WRAPPER, 'vmpod-bench', process.execPath, script, ...args],
    { stdio: 'inherit', env: { ...process.env, [WORKDIR_ENV]: work, TMPDIR: work } },
  );
  let signals = 0;
  // tini (PID 1 inside) is unshare's only child; it forwards the signal to the bench.
  const forward = (sig: NodeJS.Signals) => {
    signals++;
    const inner = child.pid !== undefined ? childrenOf(child.pid) : [];
    for (const pid of inner) {
      try {
        process.kill(pid, signals > 1 ? 'SIGKILL' : sig === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, forward);
  const code = await new Promise<number>((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 128 + 9 : 1))));
  for (const s of sigs) process.off(s, forward);
  // By now the PID namespace is gone, so no process can still hold these; a
  // cgroup may still be going offline for a moment, hence the retries.
  let failed = removeCgroupParents(work);
  for (let i = 0; failed.length && i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    failed = removeCgroupParents(work);
  }
  for (const f of failed) process.stderr.write(`bench: could not remove cgroup ${f}\n`);
  rmSync(work, { recursive: true, force: true });
  return failed.length && code === 0 ? 1 : code;
}
