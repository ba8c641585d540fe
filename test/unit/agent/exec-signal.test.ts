// Signals to an exec reach the exec'd process, not only `crun exec`. The
// runtime forwards what it receives but cannot forward SIGKILL, so a
// timed-out ExecSync used to SIGKILL the runtime (then runc) and leave its
// process running in the guest (critest "runtime should support execSync
// with timeout" found `sleep` still there). The harness's fake `crun exec`
// behaves like the real one here: a parent that writes the pid file and
// waits for the process.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ociSpec, startClient } from './harness';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(ms: number, fn: () => T | undefined): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test("SIGKILL of an exec kills the exec'd process (a timed-out ExecSync left it running)", async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  const proc = (args: string[]) => Buffer.from(JSON.stringify({ args, env: ['PATH=/usr/bin:/bin'], cwd: '/' }));

  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e1', process_json: proc(['sleep', '4321']) });
  const pidFile = join(h.dirs.bundles, 'c1', 'exec-e1.pid');
  const pid = await until(5000, () => {
    try {
      return Number(readFileSync(pidFile, 'utf8'));
    } catch {
      return undefined;
    }
  });
  t.ok(pid && alive(pid), "the exec'd process runs, its pid in the pid file");
  await client.call('SignalProcess', { container_id: 'c1', exec_id: 'e1', signal: 9 });
  const w = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 137], 'the exec exits 137 (killed by SIGKILL)');
  t.notOk(pid && alive(pid), 'and its process is gone, not orphaned');

  // Signalled at once, while crun may still be starting it: the signal waits for the pid file.
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e2', process_json: proc(['sleep', '4322']) });
  await client.call('SignalProcess', { container_id: 'c1', exec_id: 'e2', signal: 9 });
  const w2 = await client.waitProcess({ container_id: 'c1', exec_id: 'e2', wait_ms: 5000 });
  t.same([w2.exited, w2.exit_code], [true, 137], 'an exec killed right after ExecProcess is killed too');
  t.equal(spawnSync('pgrep', ['-f', '^sleep 4322$']).status, 1, 'no sleep 4322 left anywhere');

  await client.call('SignalProcess', { container_id: 'c1', exec_id: 'e2', signal: 9 });
  t.pass('signalling an exec that has exited is a no-op');
  t.throws(() => readFileSync(pidFile), "the exec's pid file is removed once it exited");
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});
