import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup } from '../../../../bench/lib/cleanup';

t.test('steps run last-in first-out, once, and failures are collected without stopping the rest', async (t) => {
  const c = new Cleanup();
  const order: string[] = [];
  c.add('first', () => order.push('first'));
  c.add('broken', () => {
    throw new Error('boom');
  });
  c.teardown(async () => order.push('helper'));
  const failures = await c.run();
  t.same(order, ['helper', 'first']);
  t.same(failures, ['broken: boom']);
  t.same(await c.run(), ['broken: boom'], 'a second run returns the same result');
  t.same(order, ['helper', 'first'], 'and runs nothing again');
});

t.test('adding a step while cleaning up is refused', async (t) => {
  const c = new Cleanup();
  void c.run();
  t.throws(() => c.add('late', () => undefined), { message: /late/ });
});

t.test('a bench whose output reader goes away (`bench | head`) cleans up and exits 141, as after SIGPIPE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-bench-epipe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'cleaned');
  // A bench that registers an undo step and then prints until stopped.
  const script = `
    const { Cleanup, runWithCleanup } = require(${JSON.stringify(join(__dirname, '../../../../bench/lib/cleanup.js'))});
    const c = new Cleanup();
    c.add('marker', () => require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'done'));
    void runWithCleanup(c, async () => {
      for (;;) {
        process.stdout.write('a line of bench output\\n');
        await new Promise((r) => setTimeout(r, 5));
      }
    }).then((code) => (process.exitCode = code));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Read one chunk, then close our end: the next writes fail with EPIPE.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 141, 'exit status 128 + SIGPIPE');
  t.equal(readFileSync(marker, 'utf8'), 'done', 'the cleanup step ran first');
});
