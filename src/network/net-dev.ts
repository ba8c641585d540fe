// Per-pod network counters, read from the pod's own network namespace.
//
// Both handlers give every pod a pinned netns holding its CNI interface
// (eth0, one end of a veth). Its counters are the pod's traffic as the pod
// sees it: rx is what the pod received. For a runc pod that is plain. For a
// VM pod, eth0 is wired to the tap QEMU opens (tap.ts): every frame that
// arrives on eth0 is redirected out through the tap into the guest, and
// every frame the guest sends enters the host on the tap and is redirected
// out of eth0. So eth0's counters are the guest NIC's own direction, with no
// swap; the tap's would be the mirror image (its rx is the guest's tx) and
// would count each frame a second time, so the tap is left out of the list.
//
// Node has no setns(2), but /proc/<pid>/net/dev is the counters of <pid>'s
// network namespace: every pod has a process in its netns that the host
// knows (a runc pod's infra process, a VM pod's QEMU), so the counters are
// read from there, without a process per pod per stats call (kubelet asks
// for every pod every few seconds). The pid is trusted only while its
// /proc/<pid>/ns/net names the pin's namespace (same nsfs inode), checked
// before and after the read, so a pid that exited and was reused reads
// nothing. Without such a process (it died), `cat` runs in the netns
// through nsenter.

import { readFile, readlink, stat } from 'node:fs/promises';
import { nowNs } from '../../common/time';
import { InternalError } from '../../common/errors';
import { run } from './run';
import { DEFAULT_TAP_NAME } from './tap';
import { POD_IFNAME } from './index';

export interface NetInterfaceFigures {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

export interface PodNetworkFigures {
  timestampNs: string;
  /** The CNI interface (eth0), when the namespace has it. */
  defaultInterface?: NetInterfaceFigures;
  /** Every interface of the pod but loopback and a VM pod's tap. */
  interfaces: NetInterfaceFigures[];
}

/**
 * /proc/net/dev → one entry per interface. Pure. Two header lines, then
 * `name: rx_bytes rx_packets rx_errs rx_drop rx_fifo rx_frame rx_compressed
 * rx_multicast tx_bytes tx_packets tx_errs ...`; a line that does not have
 * those fields is skipped.
 */
export function parseNetDev(text: string): NetInterfaceFigures[] {
  const out: NetInterfaceFigures[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (name === '' || f.length < 11 || !f.slice(0, 11).every((v) => /^\d+$/.test(v))) continue;
    out.push({ name, rxBytes: Number(f[0]), rxErrors: Number(f[2]), txBytes: Number(f[8]), txErrors: Number(f[10]) });
  }
  return out;
}

/** The interfaces that are the pod's own traffic: loopback and the VM tap (a mirror of eth0) left out. Pure. */
export function podNetworkFigures(all: NetInterfaceFigures[], timestampNs: string): PodNetworkFigures {
  const interfaces = all.filter((i) => i.name !== 'lo' && i.name !== DEFAULT_TAP_NAME);
  const out: PodNetworkFigures = { timestampNs, interfaces };
  const dflt = interfaces.find((i) => i.name === POD_IFNAME);
  if (dflt) out.defaultInterface = dflt;
  return out;
}

const READ_TIMEOUT_MS = 5_000;

/** Whether a /proc/<pid>/ns/net link names the namespace whose nsfs inode is `ino`. Pure. */
export function linkNamesNamespace(link: string, ino: number | bigint): boolean {
  return link === `net:[${ino}]`;
}

/** /proc/<pid>/net/dev while `pid` is in the namespace pinned at `netnsPath`; undefined when it is not (or is gone). */
export async function readThroughMember(netnsPath: string, pid: number): Promise<string | undefined> {
  try {
    const ino = (await stat(netnsPath, { bigint: true })).ino;
    const inside = async (): Promise<boolean> => linkNamesNamespace(await readlink(`/proc/${pid}/ns/net`), ino);
    if (!(await inside())) return undefined;
    const text = await readFile(`/proc/${pid}/net/dev`, 'utf8');
    return (await inside()) ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The counters of the pod network namespace pinned at `netnsPath`, through
 * `memberPid` (a process the host started in it) when given and still
 * there. Rejects when the namespace cannot be read.
 */
export async function readPodNetwork(netnsPath: string, memberPid?: number): Promise<PodNetworkFigures> {
  const direct = memberPid && memberPid > 0 ? await readThroughMember(netnsPath, memberPid) : undefined;
  if (direct !== undefined) return podNetworkFigures(parseNetDev(direct), nowNs());
  const r = await run(['cat', '/proc/net/dev'], { netns: netnsPath, timeoutMs: READ_TIMEOUT_MS });
  if (r.code !== 0) throw new InternalError(`cannot read the network counters of namespace ${netnsPath}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return podNetworkFigures(parseNetDev(r.stdout), nowNs());
}
