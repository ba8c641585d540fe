// Regression (issue 12): `vmpod check | head -1` crashed with an unhandled
// EPIPE and a stack trace. The real CLI (dist/src/main.js) runs with a
// stdout whose reader is gone, and must end quietly with the exit code it
// has when its output is read to the end.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAIN } from '../../helpers/daemon';

const STACK = /\n\s+at |EPIPE|Unhandled 'error' event/;

/** Exit code and output with stdout read to the end: the reference. */
function reference(args: string[]): { status: number | null; firstLine: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, firstLine: r.stdout.split('\n')[0] };
}

function waitExit(child: ReturnType<typeof spawn>, stderr: () => string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr: stderr() })));
}

t.test('stdout with no reader at all: every write fails, the CLI stays quiet and keeps its exit code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-epipe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const commands: Array<{ desc: string; args: string[] }> = [
    { desc: 'version', args: ['version'] },
    { desc: '--help', args: ['--help'] },
    { desc: 'no command (usage, exit 2)', args: [] },
    { desc: 'check', args: ['check'] },
  ];
  for (const [i, c] of commands.entries()) {
    const want = reference(c.args);
    // A FIFO whose only reader is closed before the CLI starts: writes get EPIPE, deterministically.
    const fifo = join(dir, `out-${i}`);
    t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    closeSync(reader);
    let err = '';
    const child = spawn(process.execPath, [MAIN, ...c.args], { stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const got = await waitExit(child, () => err);
    t.notMatch(got.stderr, STACK, `${c.desc}: no stack trace`);
    t.equal(got.stderr, '', `${c.desc}: nothing on stderr`);
    t.equal(got.status, want.status, `${c.desc}: exit ${want.status}, as with its output read`);
  }
});

t.test('check | head -1: the reader closes after the first line', async (t) => {
  const want = reference(['check']);
  for (let round = 0; round < 3; round++) {
    let err = '';
    let out = '';
    const child = spawn(process.execPath, [MAIN, 'check'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const firstLine = new Promise<string>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          child.stdout.destroy(); // what head does after one line: the read end goes away
          resolve(out.slice(0, nl));
        }
      }),
    );
    const got = await waitExit(child, () => err);
    t.equal(await firstLine, want.firstLine, `round ${round + 1}: the first line arrived`);
    t.notMatch(got.stderr, STACK, `round ${round + 1}: no stack trace`);
    t.equal(got.status, want.status, `round ${round + 1}: exit ${want.status}, as with its output read`);
  }
});
