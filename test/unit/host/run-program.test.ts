// runProgram (src/host/run-program.ts): promisify(execFile) over the
// addon's posix_spawn, for the daemon's one-shot programs.

import t from 'tap';
import { ProgramError, runProgram } from '../../../src/host/run-program';

t.test('runProgram: promisify(execFile) over spawnChild', async (t) => {
  t.same(await runProgram('sh', ['-c', 'echo hi; echo warn >&2']), { stdout: 'hi\n', stderr: 'warn\n' }, 'the output of a program that exits 0');
  await t.rejects(
    runProgram('sh', ['-c', 'echo busy >&2; exit 32']),
    { constructor: ProgramError, code: 32, signal: null, stderr: 'busy\n', message: /^sh -c .* exited 32: busy$/ },
    'non-zero: the exit code and what it said',
  );
  await t.rejects(runProgram('sh', ['-c', 'kill -TERM $$']), { constructor: ProgramError, code: null, signal: 'SIGTERM' }, 'killed: the signal by name');
  await t.rejects(runProgram('vmpod-no-such-program', []), { constructor: ProgramError, code: 'ENOENT' }, 'cannot start: the errno name as code');
  t.same(await runProgram('pwd', [], { cwd: '/tmp' }), { stdout: '/tmp\n', stderr: '' }, 'in the cwd given');
  await t.rejects(
    runProgram('sh', ['-c', 'echo stuck >&2; exec sleep 30'], { timeoutMs: 200 }),
    { constructor: ProgramError, code: 'ETIMEDOUT', signal: 'SIGKILL', stderr: 'stuck\n', message: /^sh -c .* did not finish within 200 ms and was killed$/ },
    'a program that outlives its timeout is killed, and the caller hears so',
  );
  t.same(await runProgram('true', [], { timeoutMs: 5000 }), { stdout: '', stderr: '' }, 'a timeout that does not expire changes nothing');
});
