import t from 'tap';
import { CommandFailedError, run } from '../../../../src/sandbox/runc/exec-file';
import { DeadlineExceededError, UnavailableError } from '../../../../common/errors';

t.test('helper command outcomes', async (t) => {
  const ok = await run('/bin/sh', ['-c', 'echo out; echo err >&2']);
  t.same([ok.stdout, ok.stderr, ok.code], ['out\n', 'err\n', 0], 'output and exit code');
  const input = await run('/bin/cat', [], { input: 'piped' });
  t.equal(input.stdout, 'piped', 'stdin is passed');
  await t.rejects(
    run('/bin/sh', ['-c', 'echo \'time="x" level=error msg="container \\"c1\\" does not exist"\' >&2; exit 1']),
    { constructor: CommandFailedError, message: /exited 1: container "c1" does not exist$/ },
    "runc's logfmt message is extracted",
  );
  const allowed = await run('/bin/sh', ['-c', 'exit 3'], { allowFailure: true });
  t.equal(allowed.code, 3, 'allowFailure returns the code');
  await t.rejects(run('/bin/sleep', ['5'], { timeoutMs: 200 }), DeadlineExceededError, 'timeout kills');
  await t.rejects(run('/nonexistent/runc', []), UnavailableError, 'missing binary is UNAVAILABLE');
});
