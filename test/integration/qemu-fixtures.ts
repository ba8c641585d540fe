// What the QEMU integration tests share: the components they need (each
// missing one fails the file, naming its Debian package), and a workspace
// whose VMs, network namespace and files are gone at teardown.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { VmHandle } from '../../src/hypervisor';

export const QEMU = '/usr/bin/qemu-system-x86_64';

export function requireQemuComponents(t: { fail(msg: string): void }): void {
  for (const [component, path] of [
    ['qemu-system-x86 (qemu-system-x86_64)', QEMU],
    ['qemu-system-data (qboot.rom)', '/usr/share/qemu/qboot.rom'],
    ['iproute2 (ip)', '/usr/sbin/ip'],
    ['util-linux (nsenter)', '/usr/bin/nsenter'],
    ['/dev/net/tun (tun driver)', '/dev/net/tun'],
  ] as const) {
    if (!existsSync(path)) t.fail(`missing component: ${component} (${path})`);
  }
}

export interface QemuWorkspace {
  /** A short dir: unix socket paths under it must stay under 108 bytes. */
  work: string;
  /** The name of a network namespace deleted at teardown (the test creates it). */
  netns: string;
  /** VMs killed at teardown if the test left them running. */
  vms: VmHandle[];
}

export function qemuWorkspace(t: { teardown(fn: () => void): void }, prefix: string): QemuWorkspace {
  const ws: QemuWorkspace = { work: mkdtempSync(`/tmp/${prefix}`), netns: `${prefix}${process.pid}`, vms: [] };
  t.teardown(() => {
    for (const vm of ws.vms) {
      try {
        process.kill(vm.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    try {
      execFileSync('ip', ['netns', 'delete', ws.netns], { stdio: 'ignore' });
    } catch {
      /* never created */
    }
    rmSync(ws.work, { recursive: true, force: true });
  });
  return ws;
}
