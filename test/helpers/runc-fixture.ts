// The world of an integration test that drives the runc SandboxController
// directly (no CRI): a temp dir with the controller's state and the pods'
// logs, busybox root filesystems built from the host's /bin/busybox, and
// dispose(), which stops and removes every container and the pod the test
// made, closes the controller and removes the dir.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncController } from '../../src/sandbox/runc/controller';
import { infraBinaryPath } from '../../src/sandbox/runc/pod';
import { readHostFacts } from '../../src/host/facts';
import { silentLogger, type Logger } from '../../src/log';
import type { ContainerHandle, SandboxHandle } from '../../src/sandbox/controller';
import type { ContainerConfig__Output } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';

/** What the runc controller needs on the host, as "<what> at <path>" for each one absent. */
export function runcMissing(): string[] {
  return [
    ['runc (apt runc)', '/usr/sbin/runc'],
    ['conmon (apt conmon)', '/usr/bin/conmon'],
    ['busybox-static', '/bin/busybox'],
    ['vmpod-infra (native/infra/build.sh)', infraBinaryPath()],
  ]
    .filter(([, path]) => !existsSync(path))
    .map(([what, path]) => `${what} at ${path}`);
}

export interface RootfsSpec {
  /** busybox applets linked into /bin. */
  applets: readonly string[];
  /** /etc/passwd and /etc/group. */
  passwd: string;
  group: string;
}

export class RuncFixture {
  readonly dir: string;
  readonly state: string;
  readonly logs: string;
  readonly host: ReturnType<typeof readHostFacts> = readHostFacts();
  readonly log: Logger = silentLogger;
  readonly ctl: RuncController;
  /** The pod the test made, removed by dispose() unless the test removed it and cleared this. */
  sb: SandboxHandle | undefined;
  /** Containers to stop and remove on dispose(). */
  readonly containers: ContainerHandle[] = [];

  constructor(
    prefix: string,
    private readonly rootfs: RootfsSpec,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.state = join(this.dir, 'state');
    this.logs = join(this.dir, 'logs');
    this.ctl = new RuncController({ handler: 'runc', state: this.state, host: this.host, log: silentLogger });
  }

  /** Another controller over the same state, as a restarted daemon has. */
  newController(): RuncController {
    return new RuncController({ handler: 'runc', state: this.state, host: this.host, log: silentLogger });
  }

  /** A root filesystem for container `name`: /bin/busybox, its applets, passwd and group. */
  busyboxRootfs(name: string): string {
    const root = join(this.dir, 'rootfs', name);
    for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    for (const a of this.rootfs.applets) {
      try {
        symlinkSync('busybox', join(root, 'bin', a));
      } catch {
        /* exists: a rootfs made again for a container of the same name */
      }
    }
    writeFileSync(join(root, 'etc', 'passwd'), this.rootfs.passwd);
    writeFileSync(join(root, 'etc', 'group'), this.rootfs.group);
    return root;
  }

  /** A pod's config as the CRI server hands it over: logs under <logs>, no DNS and no sysctls unless given. */
  podConfig(hostname: string, o: { dns?: { servers: string[]; searches: string[] }; sysctls?: Record<string, string> } = {}): PodSandboxConfig__Output {
    return {
      metadata: { name: 'p', uid: 'u1', namespace: 'default', attempt: 0 },
      hostname,
      log_directory: this.logs,
      dns_config: o.dns ? { ...o.dns, options: [] } : null,
      port_mappings: [],
      labels: {},
      annotations: {},
      linux: { cgroup_parent: '', security_context: null, sysctls: o.sysctls ?? {}, overhead: null, resources: null },
      windows: null,
    };
  }

  /** Create the pod (all namespaces POD, no network) and keep it as `sb`. */
  async createPod(id: string, config: PodSandboxConfig__Output, hostname: string): Promise<SandboxHandle> {
    const namespaces = { network: 'POD', pid: 'POD', ipc: 'POD' } as const;
    const data = await this.ctl.createSandbox({ id, config, namespaces, hostname, netnsPath: '', ips: [], log: this.log });
    this.sb = { id, config, namespaces, hostname, netnsPath: '', data };
    return this.sb;
  }

  /** Create and start container `<pod>-<name>` in the pod on a fresh busybox rootfs, logging to <logs>/<name>.log. */
  async run(name: string, config: ContainerConfig__Output): Promise<ContainerHandle> {
    const sb = this.pod();
    const id = `${sb.id}-${name}`;
    const logPath = join(this.logs, `${name}.log`);
    const made = await this.ctl.createContainer({ id, sandbox: sb, config, image: {}, rootfs: this.busyboxRootfs(name), logPath, log: this.log });
    const c = { id, logPath, data: made.data };
    this.containers.push(c);
    await this.ctl.startContainer(sb, c);
    return c;
  }

  /** The pod; throws when the test has none. */
  pod(): SandboxHandle {
    if (!this.sb) throw new Error('the runc fixture has no pod: createPod() first');
    return this.sb;
  }

  async dispose(): Promise<void> {
    await this.ctl.close();
    const sb = this.sb;
    if (sb) {
      for (const c of this.containers) {
        await this.ctl.stopContainer(sb, c, 9, 0, this.log).catch(() => undefined);
        await this.ctl.removeContainer(sb, c, this.log).catch(() => undefined);
      }
      await this.ctl.stopSandbox(sb, this.log).catch(() => undefined);
      await this.ctl.removeSandbox(sb, this.log).catch(() => undefined);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
