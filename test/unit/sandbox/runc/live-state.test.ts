import t from 'tap';
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitIndex, needsRescan, RECENT_MS } from '../../../../src/sandbox/runc/exit-index';
import { LiveStates, pidAlive, VERIFY_MS, type LiveProbes } from '../../../../src/sandbox/runc/live-state';
import type { ContainerProcessState } from '../../../../src/sandbox/controller';

const exitedWith = (code: number): ContainerProcessState => ({ state: 'exited', exitCode: code, finishedAt: '1', oomKilled: false });
const running: ContainerProcessState = { state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false };
const created: ContainerProcessState = { state: 'created', exitCode: 0, finishedAt: '0', oomKilled: false };

function fake() {
  const exits = new Map<string, ContainerProcessState>();
  const alive = new Set<number>();
  let now = 1_000_000;
  let reads = 0;
  const probes: LiveProbes = {
    exitWritten: (id) => exits.has(id),
    readExit: (id) => {
      reads++;
      return exits.get(id) ?? null;
    },
    pidAlive: (pid) => {
      probed++;
      return alive.has(pid);
    },
    // No watch by default: the kill(pid, 0) path (a host without the addon).
    watchExit: (pid, onExit) => {
      if (!watching) return null;
      if (!alive.has(pid)) return 'gone';
      watches.set(pid, onExit);
      return { close: () => closed.push(pid) };
    },
    now: () => now,
  };
  let probed = 0;
  let watching = false;
  const watches = new Map<number, () => void>();
  const closed: number[] = [];
  return {
    exits,
    alive,
    probes,
    advance: (ms: number) => (now += ms),
    reads: () => reads,
    probed: () => probed,
    watch: () => (watching = true),
    /** The process exits: its watch fires. */
    exit: (pid: number) => {
      alive.delete(pid);
      watches.get(pid)?.();
    },
    closed,
  };
}

function counted(st: ContainerProcessState) {
  const f = async () => {
    f.calls++;
    return st;
  };
  f.calls = 0;
  return f;
}

t.test('a running container is answered from memory while its PID lives, and EXITED as soon as its exit file exists', async (t) => {
  const f = fake();
  const live = new LiveStates(f.probes);
  f.alive.add(42);
  const full = counted(running);
  t.equal((await live.container('c1', 42, full)).state, 'running');
  for (let i = 0; i < 50; i++) t.equal((await live.container('c1', 42, full)).state, 'running');
  t.equal(full.calls, 1, 'the full check ran once, not per call');
  f.exits.set('c1', exitedWith(3));
  const st = await live.container('c1', 42, full);
  t.equal(st.state, 'exited');
  t.equal(st.exitCode, 3);
  await live.container('c1', 42, full);
  t.equal(f.reads(), 1, 'the exit file is read once');
  t.equal(full.calls, 1);
  live.forget('c1');
  t.equal(live.size, 0);
});

t.test('a PID gone without an exit file, and an old verification, take the full check', async (t) => {
  const f = fake();
  const live = new LiveStates(f.probes);
  f.alive.add(7);
  const full = counted(running);
  await live.container('c', 7, full);
  f.advance(VERIFY_MS + 1);
  await live.container('c', 7, full);
  t.equal(full.calls, 2, 'verified again after VERIFY_MS');
  f.alive.delete(7);
  const gone = counted({ state: 'unknown', exitCode: 255, finishedAt: '9', oomKilled: false });
  t.equal((await live.container('c', 7, gone)).state, 'unknown');
  t.equal(gone.calls, 1);
});

t.test('created stays created until runc start returned', async (t) => {
  const f = fake();
  const live = new LiveStates(f.probes);
  f.alive.add(5);
  const full = counted(created);
  t.equal((await live.container('c', 5, full)).state, 'created');
  t.equal((await live.container('c', 5, full)).state, 'created');
  live.started('c', 5);
  t.equal((await live.container('c', 5, full)).state, 'running');
  t.equal(full.calls, 1);
});

t.test('a container runc has not made yet (PID 0) is created from memory, without a probe or a watch, until its start reports its init', async (t) => {
  const f = fake();
  f.watch();
  const live = new LiveStates(f.probes);
  const full = counted(created);
  for (let i = 0; i < 20; i++) t.equal((await live.container('c', 0, full)).state, 'created');
  t.equal(full.calls, 1, 'the full check ran once');
  t.equal(f.probed(), 0, 'no kill(0, 0)');
  f.advance(VERIFY_MS + 1);
  await live.container('c', 0, full);
  t.equal(full.calls, 2, 'verified again after VERIFY_MS');
  f.alive.add(11);
  live.started('c', 11);
  t.equal((await live.container('c', 11, counted(created))).state, 'running', 'running once its start reported PID 11');
  f.exit(11);
  const gone = counted({ state: 'unknown', exitCode: 255, finishedAt: '9', oomKilled: false });
  t.equal((await live.container('c', 11, gone)).state, 'unknown', "its init's exit is seen through the watch made at the start");
  t.equal(gone.calls, 1);
});

t.test('a pod is ready while its infra PID lives, not ready once its exit file exists', async (t) => {
  const f = fake();
  const live = new LiveStates(f.probes);
  f.alive.add(9);
  let asked = 0;
  const full = async () => {
    asked++;
    return true;
  };
  t.equal(await live.podReady('p', 9, full), true);
  t.equal(await live.podReady('p', 9, full), true);
  t.equal(asked, 1);
  f.exits.set('p', exitedWith(0));
  t.equal(await live.podReady('p', 9, full), false);
  t.equal(asked, 1);
  t.equal(live.size, 0);
});

t.test('pidAlive', async (t) => {
  t.equal(pidAlive(process.pid), true);
  t.equal(pidAlive(0), false);
  t.equal(pidAlive(-1), false);
});

t.test('needsRescan: a changed stamp, or an mtime within the timestamp granularity', async (t) => {
  t.equal(needsRescan(undefined, 'a', 0, 1_000_000), true);
  t.equal(needsRescan('a', 'a', 0, 1_000_000), false);
  t.equal(needsRescan('a', 'b', 0, 1_000_000), true);
  t.equal(needsRescan('a', 'a', 1_000_000 - RECENT_MS + 1, 1_000_000), true);
  t.equal(needsRescan('a', undefined, 0, 0), false);
});

t.test('ExitIndex sees a file made after the last scan, with one readdir per change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'exit-index-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let pending: (() => void)[] = [];
  let now = Date.now() + 10 * RECENT_MS;
  const idx = new ExitIndex(dir, { schedule: (fn) => pending.push(fn), now: () => now });
  const turn = () => {
    for (const fn of pending) fn();
    pending = [];
  };
  t.equal(idx.has('c1'), false);
  turn();
  const old = new Date(Date.now() - 60_000);
  utimesSync(dir, old, old);
  turn();
  t.equal(idx.has('c1'), false);
  const scans = idx.scans;
  turn();
  for (let i = 0; i < 100; i++) idx.has('c1');
  turn();
  t.equal(idx.scans, scans, 'an unchanged directory is not read again');
  writeFileSync(join(dir, 'c1'), '3');
  turn();
  t.equal(idx.has('c1'), true, 'the next check after the file appeared sees it');
  t.equal(idx.has('c2'), false);
  turn();
  unlinkSync(join(dir, 'c1'));
  turn();
  t.equal(idx.has('c1'), false);
  // The same timestamp as the last scan (a coarse clock): read again while recent.
  now = Date.now();
  const same = new Date();
  utimesSync(dir, same, same);
  turn();
  idx.has('x');
  turn();
  writeFileSync(join(dir, 'x'), '0');
  utimesSync(dir, same, same);
  turn();
  t.equal(idx.has('x'), true, 'an mtime unchanged within the granularity still rescans');
});

t.test('ExitIndex of a missing directory knows nothing', async (t) => {
  const idx = new ExitIndex('/nonexistent/vmpod-exit-index');
  t.equal(idx.has('a'), false);
});

t.test("with a pidfd watch, a list asks nothing per container; the init's exit makes the next call check in full", async (t) => {
  const f = fake();
  f.watch();
  const live = new LiveStates(f.probes);
  f.alive.add(21);
  const full = counted(running);
  t.equal((await live.container('c', 21, full)).state, 'running');
  for (let i = 0; i < 100; i++) t.equal((await live.container('c', 21, full)).state, 'running');
  t.equal(f.probed(), 0, 'no kill(pid, 0) at all');
  t.equal(full.calls, 1);
  // conmon died first: no exit file, only the watch knows.
  f.exit(21);
  const gone = counted({ state: 'unknown', exitCode: 255, finishedAt: '9', oomKilled: false });
  t.equal((await live.container('c', 21, gone)).state, 'unknown', 'the very next call after the exit checks in full');
  t.equal(gone.calls, 1);
  t.same(f.closed, [21], 'the watch is closed once the container is dropped');
});

t.test('a watch is kept across start and re-verification of the same init, replaced for a new one, and closed on forget', async (t) => {
  const f = fake();
  f.watch();
  const live = new LiveStates(f.probes);
  f.alive.add(31);
  await live.container('c', 31, counted(created));
  live.started('c', 31);
  f.advance(VERIFY_MS + 1);
  t.equal((await live.container('c', 31, counted(running))).state, 'running');
  t.same(f.closed, [], 'one watch for the init through start and re-verification');
  f.alive.add(32);
  await live.container('c', 32, counted(running));
  t.same(f.closed, [31], "a different init PID (a restored container's) gets its own watch");
  f.alive.add(41);
  t.equal(await live.podReady('p', 41, async () => true), true);
  live.forget('c');
  live.forget('p');
  t.same(f.closed, [31, 32, 41], 'forget closes what it watched');
  t.equal(live.size, 0);
});

t.test('an init already gone when the watch is made is checked in full by the next call', async (t) => {
  const f = fake();
  f.watch();
  const live = new LiveStates(f.probes);
  const full = counted(running);
  await live.container('c', 51, full); // 51 is not alive: watchExit answers 'gone'
  await live.container('c', 51, full);
  t.equal(full.calls, 2);
});
