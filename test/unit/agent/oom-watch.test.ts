// OOM kills as events: the agent watches each running container's
// memory.events with inotify (oom-watch.ts) instead of reading every file on
// a 500 ms timer, which kept an idle VM pod's vCPU busy under TCG. A regular
// file's write raises the same inotify event a cgroup's count change does, so
// these run on temp files; test/e2e/agent-guest sees a real OOM kill.

import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OomWatches } from '../../../agent/src/oom-watch';
import { ociSpec, startClient } from './harness';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cgroupDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'oom-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n');
  return dir;
}

/** Resolves with the ids `changed` was called with once `n` calls came (or what came within 5 s). */
function recorder(): { calls: string[]; next(n: number): Promise<string[]> } {
  const calls: string[] = [];
  return {
    calls,
    async next(n) {
      for (let i = 0; i < 500 && calls.length < n; i++) await tick(10);
      return calls.slice();
    },
  };
}

t.test('a write to a watched memory.events tells its container, and only after remove() nothing more', async (t) => {
  const dir = cgroupDir(t);
  const r = recorder();
  const w = new OomWatches((id) => r.calls.push(id), 60_000);
  t.teardown(() => w.close());
  w.add('c1', dir);
  t.same(r.calls, ['c1'], 'add() reads once at once (a kill before the watch has no event of its own)');
  t.same(w.counts, { watched: 1, polled: 0 }, 'watched by inotify, no timer');
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n');
  t.ok((await r.next(2)).length >= 2, 'the change was reported without any timer');
  t.equal(r.calls[1], 'c1');
  w.remove('c1');
  const before = r.calls.length;
  writeFileSync(join(dir, 'memory.events'), 'oom_kill 2\n');
  await tick(200);
  t.equal(r.calls.length, before, 'nothing after remove()');
  t.same(w.counts, { watched: 0, polled: 0 });
});

t.test('a cgroup that cannot be watched (not there) is read on the fallback timer until removed', async (t) => {
  const r = recorder();
  const w = new OomWatches((id) => r.calls.push(id), 30);
  t.teardown(() => w.close());
  w.add('gone', join(tmpdir(), 'oom-watch-no-such-dir', 'x'));
  t.same(w.counts, { watched: 0, polled: 1 }, 'polled instead');
  t.ok((await r.next(3)).length >= 3, 'the timer keeps asking');
  w.remove('gone');
  const before = r.calls.length;
  await tick(150);
  t.equal(r.calls.length, before, 'the timer stopped with the last polled container');
});

t.test('close() ends every watch and the fallback timer (agent shutdown)', async (t) => {
  const dir = cgroupDir(t);
  const r = recorder();
  const w = new OomWatches((id) => r.calls.push(id), 30);
  w.add('watched', dir);
  w.add('polled', join(tmpdir(), 'oom-watch-no-such-dir', 'y'));
  t.same(w.counts, { watched: 1, polled: 1 });
  w.close();
  const before = r.calls.length;
  writeFileSync(join(dir, 'memory.events'), 'oom_kill 3\n');
  await tick(200);
  t.equal(r.calls.length, before, 'neither the watch nor the timer reports after close()');
  t.same(w.counts, { watched: 0, polled: 0 });
});

t.test('through the agent: an oom_kill count that grows while the container runs is a GetOOMEvent at once', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c3', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c3/rootfs' });
  const cg = join(h.dirs.cgroup, 'vmpod', 'c3');
  mkdirSync(cg, { recursive: true });
  writeFileSync(join(cg, 'memory.events'), 'oom 0\noom_kill 0\n');
  await client.call('StartContainer', { container_id: 'c3' });
  const waiting = client.call('GetOOMEvent', { wait_ms: 5000 });
  writeFileSync(join(cg, 'memory.events'), 'oom 1\noom_kill 1\n');
  const ev = await waiting;
  t.same([ev.container_id, ev.oom_kill_count], ['c3', 1], 'the event names the container and its count');
  await client.call('RemoveContainer', { container_id: 'c3', force: true });
});
