// Runs the real agent RPC handlers in-process on the host. Only the lowest
// layer is faked: `crun run/exec` become plain child processes of the
// process args in the bundle's config.json (or the exec's process.json), on
// the agent's pty when the process has a terminal, and
// mount/ip/date commands are recorded instead of run. Everything else (ttRPC,
// codecs, handlers, container/process bookkeeping, output buffers, cgroup
// file parsing) is the real code.

import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { ContainerManager } from '../../../agent/src/container-manager';
import { createAgentServer } from '../../../agent/src/agent';
import type { AgentDeps } from '../../../agent/src/deps';
import { silentLog } from '../../../agent/src/log';
import { LogRing } from '../../../agent/src/log-ring';
import type { PrivilegedFacts } from '../../../agent/src/privileged';
import type { RunResult, System } from '../../../agent/src/system';
import { duplexPair } from '../common/ttrpc/pair';
import { AgentClient } from '../../../src/agent-client';

export interface Harness {
  root: string;
  dirs: { share: string; bundles: string; cgroup: string; run: string; procSys: string; net: string };
  commands: Array<{ cmd: string; args: string[]; input?: string }>;
  children: ChildProcess[];
  connects: number;
  /** Server-side ends of every connection, to simulate the host link dropping. */
  serverEnds: Duplex[];
  connect: () => Promise<Duplex>;
  /** Serve one more connection (e.g. a real unix socket). */
  serve(conn: Duplex): void;
  poweredOff: number;
  /**
   * How long the fake `crun run` takes to make the container (write its pid
   * file); until then `crun exec` and `crun kill` of it fail as crun's do
   * ("container does not exist"). 0: at once.
   */
  runtimeMakeDelayMs: number;
  /**
   * How the fake `crun run` writes its pid file: 'rename' (a whole file at
   * once); 'in-place' as crun does (create and truncate, then the pid, here
   * `runtimeMakeDelayMs` apart, so a reader may find it empty); 'never' (a
   * crun that fails before it gets there).
   */
  runtimePidFile: 'rename' | 'in-place' | 'never';
  deps: AgentDeps;
  close(): void;
}

/** What the fake guest offers a privileged container: its agent's capabilities and its /dev. */
export const FAKE_PRIVILEGED_FACTS: PrivilegedFacts = {
  capabilities: ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'],
  devices: [
    { path: '/dev/vda', type: 'b', major: 254, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
    { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  ],
};

export function startHarness(): Harness {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-agent-test-'));
  const dirs = {
    share: join(root, 'shared'),
    bundles: join(root, 'bundles'),
    cgroup: join(root, 'cgroup'),
    run: join(root, 'run'),
    procSys: join(root, 'proc-sys'),
    net: join(root, 'sys-class-net'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  mkdirSync(join(dirs.procSys, 'kernel'), { recursive: true });
  mkdirSync(join(dirs.procSys, 'net', 'ipv4'), { recursive: true });
  const byId = new Map<string, ChildProcess>();
  /** Containers the fake `crun run` has made (crun's state dir has them). */
  const made = new Set<string>();
  const notMade = (id: string): RunResult => ({ code: 1, stdout: '', stderr: `container does not exist: ${id}` });
  const h: Harness = {
    root,
    dirs,
    commands: [],
    children: [],
    connects: 0,
    serverEnds: [],
    poweredOff: 0,
    runtimeMakeDelayMs: 0,
    runtimePidFile: 'rename',
    connect: async () => {
      h.connects++;
      const [a, b] = duplexPair();
      h.serverEnds.push(b);
      server.serve(b);
      return a;
    },
    serve: (conn) => {
      server.serve(conn);
    },
    deps: undefined as unknown as AgentDeps,
    close: () => {
      containers.close();
      for (const c of h.children) killGroup(c);
      rmSync(root, { recursive: true, force: true });
    },
  };
  const launch = (id: string, args: string[], env: string[] | undefined, terminalFd: number | undefined): ChildProcess => {
    const envObj: Record<string, string> = { PATH: '/usr/bin:/bin' };
    for (const kv of env ?? []) {
      const i = kv.indexOf('=');
      if (i > 0) envObj[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const stdio = terminalFd === undefined ? (['pipe', 'pipe', 'pipe'] as const) : [terminalFd, terminalFd, terminalFd];
    // Its own process group, so that close() also ends what it started in the background
    // (the crun exec stand-in's process outlives a killed parent, as under crun).
    const child = spawn(args[0], args.slice(1), { stdio: [...stdio], env: envObj, detached: true });
    h.children.push(child);
    if (id) byId.set(id, child);
    return child;
  };
  const sys: System = {
    async run(cmd, args, opts = {}): Promise<RunResult> {
      h.commands.push({ cmd, args, input: opts.input?.toString() });
      if (cmd === 'crun') {
        const [verb] = args;
        // What crun reads from the resources file, while it is there.
        if (verb === 'update') h.commands[h.commands.length - 1].input = readFileSync(args[args.indexOf('--resources') + 1], 'utf8');
        const id = args[args.length - 1];
        if (verb === 'state') {
          const c = byId.get(id);
          return c?.pid ? { code: 0, stdout: JSON.stringify({ id, pid: c.pid, status: 'running' }), stderr: '' } : { code: 1, stdout: '', stderr: 'container does not exist' };
        }
        if (verb === 'kill') {
          if (!made.has(args[args.length - 2])) return notMade(args[args.length - 2]);
          byId.get(args[args.length - 2])?.kill(Number(args[args.length - 1]));
        }
      }
      return { code: 0, stdout: '', stderr: '' };
    },
    spawn(cmd, args, terminalFd) {
      h.commands.push({ cmd, args });
      if (cmd !== 'crun') throw new Error(`fake system cannot spawn ${cmd}`);
      if (args[0] === 'run') {
        const bundle = args[args.indexOf('--bundle') + 1];
        const id = args[args.length - 1];
        const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; env?: string[] } };
        const child = launch(id, spec.process.args, spec.process.env, terminalFd);
        // Like `crun run --pid-file`: the container's pid, written once it runs.
        const pidFile = args.includes('--pid-file') ? args[args.indexOf('--pid-file') + 1] : undefined;
        const make = (): void => {
          made.add(id);
          if (!pidFile || !child.pid || h.runtimePidFile === 'never') return;
          if (h.runtimePidFile === 'in-place') return writeFileSync(pidFile, String(child.pid));
          writeFileSync(`${pidFile}.tmp`, String(child.pid));
          renameSync(`${pidFile}.tmp`, pidFile);
        };
        if (h.runtimePidFile === 'in-place' && pidFile) writeFileSync(pidFile, '');
        if (h.runtimeMakeDelayMs > 0) setTimeout(make, h.runtimeMakeDelayMs);
        else make();
        return child;
      }
      if (args[0] === 'exec') {
        const proc = JSON.parse(readFileSync(args[2], 'utf8')) as { args: string[]; env?: string[] };
        const id = args[args.length - 1];
        if (!made.has(id)) return launch('', ['/bin/sh', '-c', `echo 'exec failed: container does not exist' >&2; exit 255`], undefined, terminalFd);
        const pidFile = args[args.indexOf('--pid-file') + 1];
        if (!args.includes('--pid-file') || !pidFile) return launch('', proc.args, proc.env, terminalFd);
        // Like `crun exec --pid-file`: a parent that runs the process, writes its pid,
        // waits for it and exits with its status. Killing the parent leaves the process running.
        // (A background job's stdin would be /dev/null without the explicit redirection.)
        const crunLike = 'p="$1"; shift; exec 3<&0; "$@" <&3 3<&- & exec 3<&-; echo $! > "$p.tmp" && mv "$p.tmp" "$p"; wait $!';
        return launch('', ['/bin/sh', '-c', crunLike, 'crun-exec', pidFile, ...proc.args], proc.env, terminalFd);
      }
      throw new Error(`fake crun: unexpected ${args.join(' ')}`);
    },
    powerOff() {
      h.poweredOff++;
    },
  };
  let shareDir = dirs.share;
  const containers = new ContainerManager(
    sys,
    {
      ociRuntime: 'crun',
      bundlesDir: dirs.bundles,
      shareDir: () => shareDir,
      cgroupRoot: dirs.cgroup,
      cgroupParent: 'vmpod',
      privilegedFacts: () => FAKE_PRIVILEGED_FACTS,
    },
    50,
  );
  h.deps = {
    sys,
    log: silentLog,
    logRing: new LogRing(),
    containers,
    paths: { busybox: 'busybox', procSys: dirs.procSys, runDir: dirs.run, sysClassNet: dirs.net, copyFileRoots: [dirs.run], urandom: join(root, 'urandom') },
    setShareDir: (d) => (shareDir = d),
    startedAt: Date.now(),
    agentVersion: 'test',
    powerOff: () => sys.powerOff(),
  };
  const server = createAgentServer(h.deps);
  return h;
}

/** An OCI spec as the host would send it (only what the agent reads). */
export function ociSpec(args: string[], process: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      ociVersion: '1.0.2',
      process: { args, env: ['PATH=/usr/bin:/bin'], cwd: '/', ...process },
      root: { path: 'ignored' },
      linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/x' }, { type: 'mount' }] },
    }),
  );
}

/** A harness and a host client connected to it, both closed at the test's teardown. */
/**
 * Ends a launched process and whatever it left in its group. The group's id
 * stays allocated while any member lives, so this cannot reach a stranger.
 */
function killGroup(c: ChildProcess): void {
  if (!c.pid) return;
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

export function startClient(t: { teardown(fn: () => void): void }): { h: Harness; client: AgentClient } {
  const h = startHarness();
  const client = new AgentClient({ connect: h.connect, callTimeoutMs: 10_000 });
  t.teardown(() => {
    client.close();
    h.close();
  });
  return { h, client };
}

/** A process output stream read to its eof. */
export async function readAll(client: AgentClient, id: string, execId: string, which: 'readStdout' | 'readStderr'): Promise<string> {
  let out = '';
  for (let i = 0; i < 100; i++) {
    const r = await client[which]({ container_id: id, exec_id: execId, wait_ms: 2000 });
    out += Buffer.from(r.data).toString();
    if (r.eof) return out;
  }
  throw new Error('stream never reached EOF');
}
