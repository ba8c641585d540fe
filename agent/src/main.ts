// vmpod-agent: the guest's main service (PID 2, under tini). Reads the kernel
// command line, runs the boot self-test if asked, else makes sure the pseudo
// filesystems are mounted and serves AgentService on the virtio-serial port
// and/or vsock port 1024.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { powerOff as addonPowerOff } from '../../common/native/syscalls';
import { listen as vsockListen } from '../../common/native/vsock';
import { spawnsWithoutFork } from '../../common/native/spawn';
import { parseCmdline } from './cmdline';
import { consoleLog, AgentLog } from './log';
import { LogRing } from './log-ring';
import { mountWith, realSystem, System } from './system';
import { GUEST, COPY_FILE_ROOTS } from './paths';
import { EARLY_MOUNTS, earlyMountArgs, mountedTargets } from './mounts';
import { ContainerManager } from './container-manager';
import { createAgentServer } from './agent';
import { findVirtioPort, serveSerial } from './channel';
import type { AgentDeps } from './deps';
import { DebugProcesses } from './debug-processes';

const AGENT_VERSION = '0.1.0';

// The serial transport parks one thread-pool thread in read() and, while the
// host is away, possibly one in write(); keep enough threads for fs work.
process.env.UV_THREADPOOL_SIZE ??= '8';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `node=<version>`, then the flags init started Node.js with (`--jitless` under TCG), so the console shows how the agent runs. */
function nodeWords(): string {
  return [`node=${process.version}`, ...process.execArgv].join(' ');
}

function powerOff(sys: System, log: AgentLog): void {
  try {
    // reboot(RB_POWER_OFF) through the addon when it is there (it is loaded
    // at the first call and throws if missing); busybox otherwise.
    addonPowerOff();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'addon power-off unavailable, using busybox');
    sys.powerOff();
  }
}

function selftest(sys: System, log: AgentLog): void {
  say(`vmpod-agent: selftest ok ${nodeWords()}`);
  let write: string;
  try {
    writeFileSync('/.vmpod-selftest-write', 'x');
    write = 'ALLOWED';
  } catch {
    write = 'blocked';
  }
  say(`vmpod-agent: rootfs write ${write}`);
  powerOff(sys, log);
}

async function earlyMounts(sys: System, log: AgentLog): Promise<void> {
  const have = existsSync('/proc/self/mounts') ? mountedTargets(readFileSync('/proc/self/mounts', 'utf8')) : new Set<string>();
  for (const m of EARLY_MOUNTS) {
    if (have.has(m.target)) continue;
    mkdirSync(m.target, { recursive: true });
    await mountWith(sys, GUEST.busybox, earlyMountArgs(m)).catch((err: unknown) => log.error({ target: m.target, err: (err as Error).message }, 'early mount failed'));
  }
}

async function main(): Promise<void> {
  const sys = realSystem;
  const logRing = new LogRing();
  const log = consoleLog(undefined, logRing);
  log.info({ version: AGENT_VERSION, node: process.version }, 'vmpod-agent starting');
  const cmdline = parseCmdline(existsSync('/proc/cmdline') ? readFileSync('/proc/cmdline', 'utf8') : '');
  if (cmdline.selftest === 'boot') return selftest(sys, log);
  await earlyMounts(sys, log);
  // Said only when it is so: a start slowed by a fork per crun is explained by the log alone.
  if (!spawnsWithoutFork()) log.warn('the addon cannot posix_spawn: every program (crun run, crun exec) forks the agent, ~15-30 ms more guest time each under TCG');
  mkdirSync(GUEST.bundlesDir, { recursive: true });
  mkdirSync(join(GUEST.cgroupRoot, GUEST.cgroupParent), { recursive: true });
  // Let the container cgroups use every controller the guest has.
  try {
    const ctrls = readFileSync(join(GUEST.cgroupRoot, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const dir of [GUEST.cgroupRoot, join(GUEST.cgroupRoot, GUEST.cgroupParent)]) {
      writeFileSync(join(dir, 'cgroup.subtree_control'), ctrls.map((c) => `+${c}`).join(' '));
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not enable cgroup controllers');
  }
  let shareDir: string = GUEST.sharedDir;
  const containers = new ContainerManager(sys, {
    ociRuntime: GUEST.ociRuntime,
    bundlesDir: GUEST.bundlesDir,
    shareDir: () => shareDir,
    cgroupRoot: GUEST.cgroupRoot,
    cgroupParent: GUEST.cgroupParent,
  });
  const deps: AgentDeps = {
    sys,
    log,
    logRing,
    containers,
    debug: new DebugProcesses(sys, { busybox: GUEST.busybox, proc: '/proc' }),
    paths: { busybox: GUEST.busybox, procSys: '/proc/sys', runDir: GUEST.runDir, sysClassNet: '/sys/class/net', copyFileRoots: COPY_FILE_ROOTS, urandom: '/dev/urandom' },
    setShareDir: (d) => (shareDir = d),
    startedAt: Date.now(),
    agentVersion: AGENT_VERSION,
    powerOff: () => powerOff(sys, log),
  };
  const server = createAgentServer(deps);
  let serving = 0;
  if (cmdline.channel !== 'serial') {
    try {
      // Throws when the addon or the guest's vsock transport is missing.
      const l = vsockListen(GUEST.vsockPort);
      l.on('connection', (conn: Duplex) => {
        log.info('host connected over vsock');
        server.serve(conn);
      });
      l.on('error', (err: Error) => log.error({ err: err.message }, 'vsock listener failed'));
      log.info({ port: GUEST.vsockPort }, 'serving on vsock');
      serving++;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'vsock unavailable');
    }
  }
  if (cmdline.channel !== 'vsock') {
    const port = await findVirtioPort(GUEST.virtioPortsSysfs, cmdline.portName ?? GUEST.agentPortName);
    if (port) {
      log.info({ port: `/dev/${port}` }, 'serving on virtio-serial');
      serving++;
      void serveSerial(`/dev/${port}`, (c) => server.serve(c), log);
    } else {
      log.warn('no virtio-serial port named vmpod.agent');
    }
  }
  if (serving === 0) {
    log.error('no agent channel (neither vsock nor virtio-serial port vmpod.agent); powering off');
    powerOff(sys, log);
  }
  say(`vmpod-agent: ready ${nodeWords()}`);
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`vmpod-agent: uncaught exception: ${err.stack ?? String(err)}\n`);
});
void main();
