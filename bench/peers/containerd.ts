// Debian's containerd (1.6, its CRI plugin with runc) as the reference a
// bench compares vmpod against. Started on a temporary socket with its own
// root, state and CNI conf dir, from a generated config; the caller runs it
// inside the bench's network/mount/PID namespaces (bench/lib/isolate.ts), so
// its pod netns pins, shim sockets and mounts never reach the host.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { criClient, type CriClient } from '../../test/helpers/cri-client';

export const CONTAINERD_BIN = '/usr/bin/containerd';
export const RUNC_BIN = '/usr/sbin/runc';

export interface ContainerdOptions {
  /** Directory holding root/, state/, the config, the socket and the log. */
  dir: string;
  /** `sandbox_image`: the pause image, e.g. `127.0.0.1:5000/bench/pause:v1`. */
  sandboxImage: string;
  /** Registry hosts reached over plain HTTP (the loopback docker-registry). */
  insecureRegistries: string[];
  cniConfDir: string;
  cniBinDir: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface ContainerdPaths {
  root: string;
  state: string;
  socket: string;
  config: string;
  log: string;
}

export function containerdPaths(dir: string): ContainerdPaths {
  return { root: join(dir, 'root'), state: join(dir, 'state'), socket: join(dir, 'containerd.sock'), config: join(dir, 'config.toml'), log: join(dir, 'containerd.log') };
}

const q = (s: string) => JSON.stringify(s); // TOML basic strings share JSON's escapes for what we emit

/**
 * The config.toml (version 2): CRI with runc through io.containerd.runc.v2,
 * cgroupfs, overlayfs, the given pause image and CNI dirs, plain-HTTP
 * mirrors for the loopback registry. `restrict_oom_score_adj` because the
 * bench runs without CAP_SYS_RESOURCE and the CRI plugin would otherwise
 * give the sandbox container -998, which runc then fails to set.
 */
export function containerdConfigToml(o: ContainerdOptions): string {
  const p = containerdPaths(o.dir);
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const lines = [
    'version = 2',
    `root = ${q(p.root)}`,
    `state = ${q(p.state)}`,
    // Plugins that would write outside root/state, or probe for filesystems we do not use.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]',
    '',
    '[grpc]',
    `  address = ${q(p.socket)}`,
    '',
    '[debug]',
    `  level = ${q(o.logLevel ?? 'info')}`,
    '',
    '[metrics]',
    '  address = ""',
    '',
    `[${cri}]`,
    `  sandbox_image = ${q(o.sandboxImage)}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '  restrict_oom_score_adj = true',
    '  max_container_log_line_size = 16384',
    '',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
    `[${cri}.containerd.runtimes.runc.options]`,
    `  BinaryName = ${q(RUNC_BIN)}`,
    '  SystemdCgroup = false',
    '',
    `[${cri}.cni]`,
    `  bin_dir = ${q(o.cniBinDir)}`,
    `  conf_dir = ${q(o.cniConfDir)}`,
    '  max_conf_num = 1',
  ];
  for (const host of o.insecureRegistries) {
    lines.push('', `[${cri}.registry.mirrors.${q(host)}]`, `  endpoint = [${q(`http://${host}`)}]`);
  }
  return `${lines.join('\n')}\n`;
}

export interface RunningContainerd {
  paths: ContainerdPaths;
  pid: number;
  client: CriClient;
  version: string;
  /** The tail of containerd's log, for error messages. */
  logTail(bytes?: number): string;
  /** SIGTERM, then SIGKILL after 10 s. Its shims and containers are not touched: remove pods through the API first. */
  stop(): Promise<void>;
}

/** Starts containerd and resolves once its CRI plugin answers Version and Status. */
export async function startContainerd(o: ContainerdOptions): Promise<RunningContainerd> {
  if (!existsSync(CONTAINERD_BIN)) throw new Error(`${CONTAINERD_BIN} is missing: install the Debian package containerd (apt-get install -y containerd)`);
  if (!existsSync(RUNC_BIN)) throw new Error(`${RUNC_BIN} is missing: install the Debian package runc`);
  const paths = containerdPaths(o.dir);
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(paths.config, containerdConfigToml(o));
  const logFd = openSync(paths.log, 'a');
  const child = spawn(CONTAINERD_BIN, ['--config', paths.config], { stdio: ['ignore', logFd, logFd], env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin` } });
  closeSync(logFd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const logTail = (bytes = 2000) => {
    try {
      const s = readFileSync(paths.log, 'utf8');
      return s.slice(-bytes);
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const client = criClient(paths.socket);
  const deadline = Date.now() + 30_000;
  let last: string;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      client.close();
      throw new Error(`containerd exited (${child.exitCode ?? child.signalCode}) before serving CRI:\n${logTail()}`);
    }
    try {
      const v = await client.runtime.Version({ version: 'v1' }, 2000);
      const st = await client.runtime.Status({ verbose: false }, 2000);
      const notReady = (st.status?.conditions ?? []).filter((c) => !c.status).map((c) => `${c.type}: ${c.reason} ${c.message}`);
      if (notReady.length === 0) return { paths, pid: child.pid!, client, version: `${v.runtime_name} ${v.runtime_version}`, logTail, stop: async () => (client.close(), stop()) };
      last = notReady.join('; ');
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      client.close();
      await stop();
      throw new Error(`containerd did not become ready within 30 s (${last}):\n${logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
