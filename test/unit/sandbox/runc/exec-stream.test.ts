// The pure parts of runc's streaming exec, and the pty master stream it reads
// a terminal exec's output from (common/native/pty.ts): the end of output
// (EIO once the slave is closed everywhere) is an end, not an error, and
// nothing written before it is lost to a reader that comes late.

import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { InvalidArgumentError } from '../../../../common/errors';
import { openPty, ptyMasterStream } from '../../../../common/native/pty';
import { checkTerminalSize, exitCodeOf } from '../../../../src/sandbox/runc/exec-stream';

t.test('exit code from runc exit status', async (t) => {
  t.equal(exitCodeOf(3, null), 3, 'runc passes the process code through');
  t.equal(exitCodeOf(137, null), 137, 'a killed process: 128+9 from runc');
  t.equal(exitCodeOf(null, 'SIGKILL'), 137, 'runc itself killed');
  t.equal(exitCodeOf(null, 'SIGTERM'), 143, 'by the signal that killed it');
});

t.test('terminal sizes', async (t) => {
  t.same(checkTerminalSize({ width: 100, height: 40 }), { rows: 40, cols: 100 }, 'height is rows, width is cols');
  t.throws(() => checkTerminalSize({ width: 70000, height: 40 }), InvalidArgumentError, 'too wide');
  t.throws(() => checkTerminalSize({ width: -1, height: 40 }), InvalidArgumentError, 'negative');
  t.throws(() => checkTerminalSize({ width: 1.5, height: 40 }), InvalidArgumentError, 'fractional');
});

t.test('pty master stream: a late reader gets all output, then the end', async (t) => {
  const { master, slave } = openPty();
  const out = ptyMasterStream(master);
  const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done; echo LAST'], { stdio: [slave, slave, slave] });
  closeSync(slave);
  await new Promise((r) => child.on('exit', r));
  // The child is gone and its slave closed: only the pty's buffer holds the output now.
  let errored: Error | undefined;
  out.on('error', (e) => (errored = e));
  let text = '';
  for await (const b of out) text += (b as Buffer).toString();
  t.equal(errored, undefined, 'EIO was the end, not an error');
  t.match(text, /line1999\nLAST\n$/, 'last line delivered');
  t.equal(text.split('\n').length, 2002, 'every line');
  out.destroy();
  t.equal(out.fd, -1, 'the master is closed');
});

t.test('pty master stream: writes reach the child', async (t) => {
  const { master, slave } = openPty();
  const out = ptyMasterStream(master);
  const child = spawn('sh', ['-c', 'read x; echo "got:$x"'], { stdio: [slave, slave, slave] });
  closeSync(slave);
  out.write('typed\n');
  let text = '';
  for await (const b of out) text += (b as Buffer).toString();
  await new Promise((r) => (child.exitCode === null ? child.on('exit', r) : r(null)));
  t.equal(text, 'got:typed\n', 'raw slave: no echo, input passed through');
  out.destroy();
});
