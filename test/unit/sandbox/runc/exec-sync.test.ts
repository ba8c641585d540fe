// ExecSync against a stand-in for runc (a shell script taking runc's
// arguments), so the cap and the timeout are tested without a container.

import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from '../../../../src/sandbox/runc/exec-sync';
import { DeadlineExceededError } from '../../../../common/errors';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-exec-sync-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// argv: --root R exec --pid-file F <id> <cmd...>; runs <cmd> after writing its PID.
const fakeRunc = join(dir, 'runc');
writeFileSync(fakeRunc, '#!/bin/sh\npidfile="$5"; shift 6; echo $$ > "$pidfile"; echo $$ > "$pidfile.seen"; exec "$@"\n');
chmodSync(fakeRunc, 0o755);

const opts = (cmd: string[], timeoutS = 10, cap?: number) => ({ runcBinary: fakeRunc, runcRoot: dir, id: 'c1', cmd, timeoutS, pidFile: join(dir, 'exec.pid'), cap });

t.test('output, exit code and cap', async (t) => {
  const r = await execSync(opts(['/bin/sh', '-c', 'echo out; echo err >&2; exit 5']));
  t.same([r.stdout.toString(), r.stderr.toString(), r.exitCode], ['out\n', 'err\n', 5], 'stdout, stderr, exit code');
  t.notOk(existsSync(join(dir, 'exec.pid')), 'pid file removed');
  const big = await execSync(opts(['/bin/sh', '-c', 'head -c 3000000 /dev/zero; exit 0'], 10, 1 << 20));
  t.equal(big.stdout.length, 1 << 20, 'output capped, the rest drained');
  t.equal(big.exitCode, 0, 'process not blocked by the cap');
});

t.test('a background process holding the pipes does not hold the answer', async (t) => {
  const r = await execSync(opts(['/bin/sh', '-c', 'sleep 30 & echo $!; exit 3']));
  const bg = Number(r.stdout.toString().trim());
  t.teardown(() => {
    try {
      process.kill(bg, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  t.ok(bg > 0, 'output of the command');
  t.equal(r.exitCode, 3, 'exit code of the command');
});

t.test("timeout kills the exec'd process", async (t) => {
  await t.rejects(execSync(opts(['/bin/sleep', '30'], 1)), DeadlineExceededError, 'reported as DEADLINE_EXCEEDED');
  const pid = readFileSync(join(dir, 'exec.pid.seen'), 'utf8').trim();
  t.notOk(existsSync(`/proc/${pid}`), "the exec'd process is gone");
});
