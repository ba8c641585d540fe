import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectSeqpacket } from '../../../../common/native/seqpacket';

// conmon's attach socket lives in the container's bundle under the state dir;
// a deep state dir makes its path longer than a socket address (108 bytes).
t.test('a seqpacket socket whose path is longer than sun_path is still reached', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'vmpod-seqpacket-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'x'.repeat(60), 'y'.repeat(60));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'attach');
  t.ok(Buffer.byteLength(path) > 108, `path is ${Buffer.byteLength(path)} bytes`);
  // A seqpacket server Node cannot be: Python's socket module, binding through the directory's fd as conmon does.
  const server = spawn('python3', [
    '-c',
    [
      'import os, socket, sys',
      'd = os.open(sys.argv[1], os.O_RDONLY)',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)',
      's.bind("/proc/self/fd/%d/attach" % d)',
      's.listen(1)',
      'print("ready", flush=True)',
      'c, _ = s.accept()',
      'c.send(b"\\x02hello")',
      'c.close()',
    ].join('\n'),
    dir,
  ]);
  t.teardown(() => server.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`python server exited ${code}`)));
  });
  t.ok(existsSync(path), 'the server socket exists');
  const h = connectSeqpacket(path);
  t.teardown(() => h.close());
  // Blocking semantics are not needed: poll briefly until the packet is there.
  const buf = Buffer.alloc(64);
  let n = -11;
  for (let i = 0; i < 200 && n === -11; i++) {
    n = h.read(buf);
    if (n === -11) await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(buf.subarray(0, n).toString('latin1'), '\x02hello', 'one packet, its stream tag first');
});
