// ExecSync against a stand-in for runc (a shell script taking runc's
// arguments), so the cap and the timeout are tested without a container.

import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from '../../../../src/sandbox/runc/exec-sync';
import { EXEC_RESPONSE_BUDGET, truncationMarker } from '../../../../src/sandbox/exec-output';
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
  t.ok(big.stdout.subarray(0, 1 << 20).equals(Buffer.alloc(1 << 20)), 'output capped: its first MiB kept');
  t.equal(big.stdout.subarray(1 << 20).toString(), truncationMarker(3000000 - (1 << 20)), 'the rest drained, and the cut said so');
  t.equal(big.exitCode, 0, 'process not blocked by the cap');
});

// 16 MiB of each stream used to make a 32 MiB ExecSyncResponse, past gRPC's 16 MiB limit.
t.test('stdout and stderr together fit one gRPC message, each cut one marked', async (t) => {
  const r = await execSync(opts(['/bin/sh', '-c', 'head -c 20000000 /dev/zero & head -c 20000000 /dev/zero >&2; wait; exit 0'], 60));
  t.ok(r.stdout.length + r.stderr.length <= EXEC_RESPONSE_BUDGET, `${r.stdout.length} + ${r.stderr.length} bytes within ${EXEC_RESPONSE_BUDGET}`);
  for (const [name, b] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
  ] as const) {
    t.match(b.subarray(-80).toString(), /\[vmpod: output truncated, \d+ bytes dropped\]\n$/, `${name} ends with the marker`);
    t.ok(b.length > 7 * 1024 * 1024, `${name} keeps about half of the budget (${b.length} bytes)`);
  }
  t.equal(r.exitCode, 0, 'exit code');
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
