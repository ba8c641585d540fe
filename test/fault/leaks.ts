// What a daemon left behind once every pod is removed and it has stopped:
// processes naming its directory (QEMU, conmon, the infra process), runc
// containers under its runc root, mounts under its directory, pinned pod
// netns files, and any file or directory under root/state that was not there
// before the first pod and names a pod or container id (records, bundles,
// VM run dirs, snapshots of container rootfs, CNI cache entries), and vsock
// CIDs still reserved. Each entry is one leak, said in words a reader can act on.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** 64 hex digits: how vmpod names pods and containers (and how image blobs are named: those are in the baseline). */
const ID = /[0-9a-f]{64}/;

/** Every path under `dir` down to `depth` levels, without following symlinks or crossing into mounts we skip. */
export function walk(dir: string, depth: number, skip: (path: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const go = (d: string, left: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (skip(p)) continue;
      out.push(p);
      if (left > 1) {
        try {
          if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) go(p, left - 1);
        } catch {
          // vanished or unreadable: what is listed so far is what there is
        }
      }
    }
  };
  go(dir, depth);
  return out;
}

/** Paths under root and state before any pod ran: what is there then is never a leak. */
export function baseline(root: string, state: string): Set<string> {
  return new Set([...walk(root, 6, skipImages(root)), ...walk(state, 6)]);
}

/** Image content (blobs, layer snapshots) is shared and kept; container rootfs under image/ are per id and do get listed. */
function skipImages(root: string): (p: string) => boolean {
  const blobs = join(root, 'image', 'blobs');
  return (p) => p.startsWith(blobs);
}

function cmdlinesNaming(dir: string): [number, string][] {
  const out: [number, string][] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      // A zombie has an empty cmdline: it is gone but for its parent's wait.
      if (cmd.includes(dir)) out.push([Number(p), cmd]);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** PIDs of processes whose command line names `dir` (this process excluded). */
export function pidsNaming(dir: string): number[] {
  return cmdlinesNaming(dir).map(([pid]) => pid);
}

export function processesNaming(dir: string): string[] {
  return cmdlinesNaming(dir).map(([pid, cmd]) => `process ${pid}: ${cmd.split('\0').join(' ').slice(0, 200)}`);
}

export function runcContainers(runcRoot: string): string[] {
  if (!existsSync(runcRoot)) return [];
  const r = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' });
  if (r.status !== 0) return [`runc --root ${runcRoot} list failed: ${r.stderr.trim()}`];
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((id) => `runc container ${id} under ${runcRoot}`);
}

export function mountsUnder(dir: string, except: readonly string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`) && !except.includes(m))
    .map((m) => `mount ${m}`);
}

export interface LeakScanInput {
  dir: string;
  root: string;
  state: string;
  before: Set<string>;
}

/** Everything left; empty when nothing leaked. Call after every pod was removed and the daemon stopped. */
export function scanLeaks(i: LeakScanInput): string[] {
  const netnsDir = join(i.state, 'netns');
  const pins = existsSync(netnsDir) ? readdirSync(netnsDir).map((n) => `pod netns pin ${join(netnsDir, n)}`) : [];
  const files = [...walk(i.root, 6, skipImages(i.root)), ...walk(i.state, 6)]
    .filter((p) => !i.before.has(p) && ID.test(p.slice(i.dir.length)))
    // Pins are reported above; a pod's own path is reported once, not each file under it.
    .filter((p, _, all) => !p.startsWith(netnsDir) && !all.some((q) => q !== p && p.startsWith(`${q}/`)))
    .map((p) => `path ${p}`);
  return [...processesNaming(i.dir), ...runcContainers(join(i.state, 'runc')), ...mountsUnder(i.dir, [netnsDir]), ...pins, ...cidsHeld(i.root), ...files];
}

/** vsock CIDs still reserved in the allocator's file ({version, owners: {cid: pod id}}). */
export function cidsHeld(root: string): string[] {
  const file = join(root, 'microvm', 'vsock-cids.json');
  if (!existsSync(file)) return [];
  const owners = (JSON.parse(readFileSync(file, 'utf8')) as { owners?: Record<string, string> }).owners ?? {};
  return Object.entries(owners).map(([cid, owner]) => `vsock CID ${cid} reserved for ${owner}`);
}

/** Remove the run dirs of a state dir's VMs: they live under /run/vmpod/s, outside it, reached by their links in <state>/vm/<id>. */
export function removeVmRunDirs(state: string): void {
  const vmLinks = join(state, 'vm');
  for (const id of existsSync(vmLinks) ? readdirSync(vmLinks) : []) {
    try {
      rmSync(realpathSync(join(vmLinks, id)), { recursive: true, force: true });
    } catch {
      // a dangling link: its run dir is gone already
    }
  }
}
