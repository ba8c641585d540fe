// What the RPC handlers need, gathered in one object so main.ts wires the
// real guest and the unit tests wire temp dirs and a fake System.

import type { System } from './system';
import type { AgentLog } from './log';
import type { ContainerManager } from './container-manager';
import type { LogRing } from './log-ring';
import type { DebugProcesses } from './debug-processes';

export interface AgentPaths {
  busybox: string;
  /** /proc/sys (sysctls, kernel/hostname). */
  procSys: string;
  /** /run/vmpod (hostname, hosts, resolv.conf). */
  runDir: string;
  sysClassNet: string;
  copyFileRoots: readonly string[];
  /** /dev/urandom (host entropy is mixed in here when the RNG cannot be reseeded). */
  urandom: string;
}

export interface AgentDeps {
  sys: System;
  log: AgentLog;
  /** The lines `log` wrote, for ReadAgentLog. */
  logRing: LogRing;
  containers: ContainerManager;
  /** Processes in the guest itself (`vmpod debug`); absent: DebugExec is refused. */
  debug?: DebugProcesses;
  paths: AgentPaths;
  /** The first shared mount becomes the directory rootfs/mount paths are relative to. */
  setShareDir(dir: string): void;
  startedAt: number;
  agentVersion: string;
  /** Called (after the reply is sent) by DestroySandbox. */
  powerOff(): void;
}
