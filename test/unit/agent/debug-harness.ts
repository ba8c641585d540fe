// The agent harness (harness.ts) with debug processes: the same handlers and
// fake crun, plus a DebugProcesses whose programs really run on this host
// through busybox `setsid`, as they do in the guest. A second server over the
// harness's deps serves them, so the shared harness stays as it is.

import { readFileSync } from 'node:fs';
import { createAgentServer } from '../../../agent/src/agent';
import { DebugProcesses } from '../../../agent/src/debug-processes';
import type { Child } from '../../../common/native/spawn';
import { realSystem, type System } from '../../../agent/src/system';
import { AgentClient } from '../../../src/agent-client';
import { duplexPair } from '../common/ttrpc/pair';
import { startHarness, type Harness } from './harness';

export const BUSYBOX = '/bin/busybox';

export interface DebugHarness {
  h: Harness;
  client: AgentClient;
  debug: DebugProcesses;
  /** The processes spawned for debug requests (session leaders). */
  children: Child[];
}

export function startDebugClient(t: { teardown(fn: () => void): void }): DebugHarness {
  const h = startHarness();
  const children: Child[] = [];
  const sys: System = {
    ...h.deps.sys,
    spawn(cmd, args, terminalFd, opts) {
      if (cmd === 'crun') return h.deps.sys.spawn(cmd, args, terminalFd, opts);
      const c = realSystem.spawn(cmd, args, terminalFd, opts);
      children.push(c);
      return c;
    },
  };
  const debug = new DebugProcesses(sys, { busybox: BUSYBOX, proc: '/proc' });
  const server = createAgentServer({ ...h.deps, sys, debug });
  const client = new AgentClient({
    connect: async () => {
      const [a, b] = duplexPair();
      server.serve(b);
      return a;
    },
    callTimeoutMs: 10_000,
  });
  t.teardown(() => {
    client.close();
    for (const c of children) {
      try {
        if (c.pid) process.kill(-c.pid, 'SIGKILL'); // its session's group; gone already if the test passed
      } catch {
        // gone
      }
    }
    h.close();
  });
  return { h, client, debug, children };
}

/** Whether a process of this pid runs (not a zombie). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
