// ResizeTty that arrives before crun has written the process's pid file
// (`kubectl exec -t` sends its first resize right after the exec starts; a
// host may resize while StartContainer still waits) was lost: the agent
// sizes the container's own pty through /proc/<pid>/fd, and had no pid yet.
// Now the last size asked for is kept and applied once the pid is known.
// Here a fake crun runs each process on a pty of its own, as crun does (the
// agent's pty is not the process's), and writes the pid file only when the
// test says so.

import t from 'tap';
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerManager } from '../../../agent/src/container-manager';
import type { System } from '../../../agent/src/system';
import { getWindowSize, openPty, type WindowSize } from '../../../common/native/pty';
import { sleep } from '../../../common/time';
import { ociSpec } from './harness';

interface FakeCrun {
  sys: System;
  /** Resolves once the agent has started `key`'s crun. */
  started(key: string): Promise<void>;
  /** The master of the pty the process of `key` ("c1" or "c1/e1") runs on. */
  master(key: string): number;
  /** Writes the pid file of `key`, as crun does once the process runs (once the agent has started it). */
  release(key: string): Promise<void>;
}

function fakeCrun(t: { teardown(fn: () => void): void }): FakeCrun {
  const masters = new Map<string, number>();
  const pending = new Map<string, () => void>();
  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const m of masters.values()) closeSync(m);
  });
  // crun (the agent's child, on the agent's pty) and the process it runs (on a pty of its own).
  const onOwnPty = (key: string, pidFile: string, terminalFd: number | undefined): ChildProcess => {
    const { master, slave } = openPty();
    const proc = spawn('sleep', ['30'], { stdio: [slave, slave, slave] });
    closeSync(slave);
    const crunItself = spawn('sleep', ['30'], { stdio: terminalFd === undefined ? 'pipe' : [terminalFd, terminalFd, terminalFd] });
    children.push(proc, crunItself);
    masters.set(key, master);
    pending.set(key, () => {
      writeFileSync(`${pidFile}.tmp`, String(proc.pid));
      renameSync(`${pidFile}.tmp`, pidFile);
    });
    return crunItself;
  };
  const sys: System = {
    run: async () => ({ code: 0, stdout: '', stderr: '' }),
    spawn(_cmd, args, terminalFd) {
      const id = args[args.length - 1];
      const pidFile = args[args.indexOf('--pid-file') + 1];
      if (args[0] === 'run') return onOwnPty(id, pidFile, terminalFd);
      const execId = /exec-(.+)\.json$/.exec(args[args.indexOf('--process') + 1])?.[1] ?? '';
      return onOwnPty(`${id}/${execId}`, pidFile, terminalFd);
    },
    powerOff: () => undefined,
  };
  const started = async (key: string): Promise<void> => {
    for (let i = 0; i < 500 && !pending.has(key); i++) await sleep(10);
  };
  return {
    sys,
    master: (key) => masters.get(key) ?? -1,
    started,
    release: async (key) => {
      await started(key);
      pending.get(key)?.();
    },
  };
}

/** Waits (bounded) until the pty has `want`; returns what it has then. */
async function sizeBecomes(master: number, want: WindowSize): Promise<WindowSize> {
  for (let i = 0; i < 300; i++) {
    const s = getWindowSize(master);
    if (s.rows === want.rows && s.cols === want.cols) return s;
    await sleep(10);
  }
  return getWindowSize(master);
}

function manager(t: { teardown(fn: () => void): void }, sys: System): ContainerManager {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-resize-'));
  mkdirSync(join(root, 'shared', 'c1', 'rootfs'), { recursive: true });
  mkdirSync(join(root, 'cgroup'), { recursive: true });
  const m = new ContainerManager(sys, { ociRuntime: 'crun', bundlesDir: join(root, 'bundles'), shareDir: () => join(root, 'shared'), cgroupRoot: join(root, 'cgroup'), cgroupParent: 'vmpod' });
  t.teardown(() => {
    m.close();
    rmSync(root, { recursive: true, force: true });
  });
  return m;
}

t.test('an exec resized before crun wrote its pid file gets the last size asked for once it did', async (t) => {
  const crun = fakeCrun(t);
  const m = manager(t, crun.sys);
  await m.create({ container_id: 'c1', oci_spec_json: ociSpec(['sleep', '30']), rootfs_path: 'c1/rootfs', mounts: [], stdin: false, privileged: false });
  const started = m.start('c1');
  await crun.release('c1');
  await started;
  const proc = Buffer.from(JSON.stringify({ args: ['sh'], env: ['PATH=/usr/bin:/bin'], cwd: '/', terminal: true }));
  await m.exec('c1', 'e1', proc, true);
  const before = getWindowSize(crun.master('c1/e1'));
  m.resizeTerminal('c1', 'e1', { rows: 20, cols: 60 });
  m.resizeTerminal('c1', 'e1', { rows: 33, cols: 77 });
  t.same(getWindowSize(crun.master('c1/e1')), before, 'no pid yet: the pty of the process keeps its size');
  await crun.release('c1/e1');
  t.same(await sizeBecomes(crun.master('c1/e1'), { rows: 33, cols: 77 }), { rows: 33, cols: 77 }, 'once crun named it, the last size asked for');
  m.resizeTerminal('c1', 'e1', { rows: 40, cols: 100 });
  t.same(getWindowSize(crun.master('c1/e1')), { rows: 40, cols: 100 }, 'after that a resize applies at once');
});

t.test("a container's init resized while StartContainer waits for crun gets the size once it runs", async (t) => {
  const crun = fakeCrun(t);
  const m = manager(t, crun.sys);
  await m.create({
    container_id: 'c1',
    oci_spec_json: ociSpec(['sh'], { terminal: true, consoleSize: { height: 24, width: 80 } }),
    rootfs_path: 'c1/rootfs',
    mounts: [],
    stdin: true,
    privileged: false,
  });
  const started = m.start('c1');
  await crun.started('c1');
  const before = getWindowSize(crun.master('c1'));
  m.resizeTerminal('c1', '', { rows: 50, cols: 132 });
  t.same(getWindowSize(crun.master('c1')), before, "crun's pid stands in for the container's: its pty is not the container's and keeps its size");
  await crun.release('c1');
  await started;
  t.same(await sizeBecomes(crun.master('c1'), { rows: 50, cols: 132 }), { rows: 50, cols: 132 }, 'the size asked for during the start');
});
