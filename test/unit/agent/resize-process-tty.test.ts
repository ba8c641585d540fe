// ResizeTty under crun: crun relays the container's pty to the agent's but
// never passes a resize of its own stdio on, so the agent sizes the pty the
// container's process has on its stdio itself, through /proc/<pid>/fd.
// Here a child sits on a pty pair of its own (the container's, made by crun
// in the guest) and the agent's side only knows its pid.

import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { once } from 'node:events';
import { getWindowSize, openPty } from '../../../common/native/pty';
import { resizeProcessTty } from '../../../agent/src/terminal';

t.test("the process's own pty takes the size", async (t) => {
  const { master, slave } = openPty();
  const child = spawn('sleep', ['30'], { stdio: [slave, slave, slave] });
  closeSync(slave);
  t.teardown(() => {
    child.kill('SIGKILL');
    closeSync(master);
  });
  await once(child, 'spawn');
  t.ok(resizeProcessTty(child.pid!, { rows: 33, cols: 77 }), 'found a terminal on its stdio');
  t.same(getWindowSize(master), { rows: 33, cols: 77 }, 'the pty of the process has the new size');
});

t.test('a terminal on stdout only (stdin redirected) is found too', async (t) => {
  const { master, slave } = openPty();
  const child = spawn('sleep', ['30'], { stdio: ['ignore', slave, slave] });
  closeSync(slave);
  t.teardown(() => {
    child.kill('SIGKILL');
    closeSync(master);
  });
  await once(child, 'spawn');
  t.ok(resizeProcessTty(child.pid!, { rows: 12, cols: 34 }), 'found on fd 1');
  t.same(getWindowSize(master), { rows: 12, cols: 34 });
});

t.test('no terminal, or no process: false, nothing thrown', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  await once(child, 'spawn');
  t.notOk(resizeProcessTty(child.pid!, { rows: 10, cols: 10 }), 'pipes are not terminals');
  t.notOk(resizeProcessTty(0x7ffffff0, { rows: 10, cols: 10 }), 'no such pid');
});
