// The addon's pty calls on the host: a pair whose slave is a raw terminal,
// window sizes set on the master and read by a child on the slave, and the
// errors for fds that are not terminals.

import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { getWindowSize, openPty, setWindowSize } from '../../../../common/native/pty';
import { SyscallError } from '../../../../common/native/errno';

t.test('a child on the slave sees a raw terminal of the size set on the master', async (t) => {
  const { master, slave } = openPty();
  setWindowSize(master, { rows: 33, cols: 101 });
  t.same(getWindowSize(slave), { rows: 33, cols: 101 }, 'the slave reports the size set on the master');
  const out = new ReadStream(master);
  out.on('error', () => undefined); // EIO once the child is gone
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  const closed = new Promise((r) => out.on('close', r));
  const child = spawn('sh', ['-c', 'test -t 0 && test -t 1 && test -t 2 && echo all-terminals; stty size; read x; echo "got:$x"'], { stdio: [slave, slave, slave] });
  closeSync(slave);
  out.write('typed\n');
  const code = await new Promise((r) => child.on('exit', r));
  await closed;
  t.equal(code, 0, 'child exited 0');
  // Raw: no echo of "typed", no \n → \r\n translation.
  t.equal(text, 'all-terminals\n33 101\ngot:typed\n', 'stdio are the terminal, its size, and input passed through raw');
});

t.test('errors', async (t) => {
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  t.throws(() => setWindowSize(fd, { rows: 1, cols: 1 }), { code: 'ENOTTY', syscall: 'ioctl' }, 'TIOCSWINSZ on /dev/null is ENOTTY');
  t.throws(() => getWindowSize(fd), SyscallError, 'TIOCGWINSZ on /dev/null throws a SyscallError');
  const { master, slave } = openPty();
  t.teardown(() => {
    closeSync(master);
    closeSync(slave);
  });
  t.throws(() => setWindowSize(master, { rows: 70000, cols: 1 }), RangeError, 'rows beyond 16 bits are refused');
  t.throws(() => setWindowSize(master, { rows: -1, cols: 1 }), RangeError, 'negative rows are refused');
});
