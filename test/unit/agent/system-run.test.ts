// realSystem.run, the agent's one-shot programs (crun kill, delete, update;
// busybox), now started with the addon's posix_spawn: what it hands back for
// an exit, a signal, input, a timeout and a program that is not there.

import t from 'tap';
import { realSystem } from '../../../agent/src/system';

t.test('run: code, output and input as the agent reads them', async (t) => {
  const cases: { name: string; args: string[]; input?: string; timeoutMs?: number; code: number; stdout: string | RegExp; stderr: string | RegExp }[] = [
    { name: 'exit 0 with output on both streams', args: ['-c', 'echo out; echo err >&2'], code: 0, stdout: 'out\n', stderr: 'err\n' },
    { name: 'a non-zero exit', args: ['-c', 'exit 7'], code: 7, stdout: '', stderr: '' },
    { name: 'input on stdin', args: ['-c', 'cat'], input: 'through stdin', code: 0, stdout: 'through stdin', stderr: '' },
    { name: 'no input: stdin at its end at once', args: ['-c', 'cat; echo done'], code: 0, stdout: 'done\n', stderr: '' },
    { name: 'killed by a signal: 128 + its number', args: ['-c', 'kill -TERM $$'], code: 143, stdout: '', stderr: '' },
    { name: 'past its timeout: SIGKILLed', args: ['-c', 'exec sleep 30'], timeoutMs: 100, code: 137, stdout: '', stderr: '' },
  ];
  for (const c of cases) {
    const r = await realSystem.run('sh', c.args, { input: c.input, timeoutMs: c.timeoutMs });
    t.match(r, { code: c.code, stdout: c.stdout, stderr: c.stderr }, c.name);
  }
});

t.test('run: a program that is not there is 127 with the reason', async (t) => {
  const r = await realSystem.run('/nonexistent/crun', ['state', 'c1']);
  t.equal(r.code, 127, 'the shell convention for "not found"');
  t.match(r.stderr, /^\/nonexistent\/crun: .*ENOENT/, 'names the program and the errno');
});
