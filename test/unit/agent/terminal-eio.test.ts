// Output a process writes to its terminal just before it exits must reach
// the host (issue 14: "stty size" printed "30 100" and the reader got only
// the line before). Reading the master after the slave closed fails with
// EIO; Node destroys a stream on any read error, and a destroyed stream
// drops what it still buffers. The terminal now ends its stream on EIO as
// on EOF, so buffered output is delivered first.

import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Terminal } from '../../../agent/src/terminal';

t.test('EIO while output is still buffered: the output is delivered, then the end', async (t) => {
  const term = Terminal.open({ rows: 24, cols: 80 });
  term.releaseSlave();
  term.output.pause();
  // What Node's read path does with a chunk, then with the EIO of a hung-up master.
  term.output.push(Buffer.from('30 100\n'));
  term.output.destroy(Object.assign(new Error('read EIO'), { code: 'EIO' }));
  let out = '';
  term.output.on('data', (b: Buffer) => (out += b.toString()));
  term.output.resume();
  await once(term.output, 'close');
  t.equal(out, '30 100\n', 'the buffered line survived the EIO');
  t.notOk(term.open, 'and the master was closed after it');
  term.close();
});

t.test('a paused terminal keeps the output written before the process exited', async (t) => {
  const term = Terminal.open({ rows: 24, cols: 80 });
  const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done; stty size'], { stdio: [term.childFd, term.childFd, term.childFd] });
  term.releaseSlave();
  term.output.pause();
  await once(child, 'exit');
  let out = '';
  term.output.on('data', (b: Buffer) => (out += b.toString()));
  term.output.resume();
  await once(term.output, 'close');
  t.match(out, /line 199\r?\n24 80\r?\n$/, 'every line up to the last, written just before exit');
  term.close();
});
