import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { criSignalName, resolveArgs, resolveCwd, resolveStopSignal, signalNumber } from '../../../src/oci/process';
import { mergeEnv } from '../../../src/oci/env';
import { InvalidArgumentError } from '../../../common/errors';

t.test('command/args against Entrypoint/Cmd (kubelet + containerd rule)', async (t) => {
  const image = { Entrypoint: ['/ep'], Cmd: ['cmd-arg'] };
  const cases: { desc: string; command: string[]; args: string[]; image: object; want: string[] }[] = [
    { desc: 'neither: Entrypoint + Cmd', command: [], args: [], image, want: ['/ep', 'cmd-arg'] },
    { desc: 'args only: Entrypoint + args', command: [], args: ['a'], image, want: ['/ep', 'a'] },
    { desc: 'command only: Cmd dropped', command: ['/c'], args: [], image, want: ['/c'] },
    { desc: 'command and args', command: ['/c'], args: ['x', 'y'], image, want: ['/c', 'x', 'y'] },
    { desc: 'no Entrypoint: Cmd alone', command: [], args: [], image: { Cmd: ['/bin/sh'] }, want: ['/bin/sh'] },
    { desc: 'Entrypoint [""] is reset', command: [], args: [], image: { Entrypoint: [''], Cmd: ['/x'] }, want: ['/x'] },
    { desc: 'null Entrypoint/Cmd with args', command: [], args: ['/bin/true'], image: { Entrypoint: null, Cmd: null }, want: ['/bin/true'] },
  ];
  for (const c of cases) t.same(resolveArgs(c.command, c.args, c.image), c.want, c.desc);
  t.throws(() => resolveArgs([], [], {}), InvalidArgumentError, 'nothing to run is an invalid argument');
});

t.test('working dir', async (t) => {
  t.equal(resolveCwd('', {}), '/', 'default /');
  t.equal(resolveCwd('', { WorkingDir: '/app' }), '/app', 'image WorkingDir');
  t.equal(resolveCwd('/w', { WorkingDir: '/app' }), '/w', 'CRI wins');
  t.throws(() => resolveCwd('rel', {}), InvalidArgumentError, 'relative rejected');
});

t.test('signals', async (t) => {
  const cases: [string, number | null][] = [
    ['SIGTERM', 15],
    ['TERM', 15],
    ['9', 9],
    ['sigquit', 3],
    ['SIGRTMIN+3', 37],
    ['SIGRTMAX', 64],
    ['BOGUS', null],
    ['99', null],
  ];
  for (const [name, want] of cases) t.equal(signalNumber(name), want, name);
  t.equal(resolveStopSignal('', {}), 15, 'default SIGTERM');
  t.equal(resolveStopSignal('', { StopSignal: 'SIGQUIT' }), 3, 'image StopSignal');
  t.equal(resolveStopSignal('SIGINT', { StopSignal: 'SIGQUIT' }), 2, 'CRI stop_signal wins');
  t.equal(resolveStopSignal('RUNTIME_DEFAULT', { StopSignal: 'SIGQUIT' }), 3, 'RUNTIME_DEFAULT defers to image');
});

t.test('env merge', async (t) => {
  const env = mergeEnv(
    'pod1',
    { Env: ['PATH=/img', 'A=1', 'B=2'] },
    [
      { key: 'A', value: 'x' },
      { key: 'C', value: '3' },
    ],
    true,
  );
  t.same(env, ['PATH=/img', 'HOSTNAME=pod1', 'A=x', 'B=2', 'C=3', 'TERM=xterm'], 'image then CRI, replaced in place, TERM for tty');
  const noPath = mergeEnv('', {}, [], false);
  t.match(noPath, [/^PATH=\/usr\/local\/sbin/], 'default PATH when the image has none');
  t.equal(noPath.length, 1, 'no HOSTNAME without hostname, no TERM without tty');
});

t.test('CRI Signal enum names: each maps to a number and back', async (t) => {
  const proto = readFileSync(join(__dirname, '../../../../proto/cri/api.proto'), 'utf8');
  const names = [...(/enum Signal \{([^}]*)\}/.exec(proto)?.[1] ?? '').matchAll(/(SIG\w+)\s*=/g)].map((m) => m[1]);
  t.equal(names.length, 65, 'every signal of the enum');
  const alias: Record<string, string> = { SIGIOT: 'SIGABRT', SIGCLD: 'SIGCHLD', SIGPOLL: 'SIGIO' };
  for (const name of names) {
    const n = signalNumber(name);
    if (n === null) {
      t.fail(`${name} is not understood`);
      continue;
    }
    t.equal(criSignalName(n), alias[name] ?? name, `${name} = ${n}`);
  }
  t.equal(signalNumber('SIGRTMIN+40'), null, 'beyond SIGRTMAX is not a signal');
  t.equal(criSignalName(0), 'RUNTIME_DEFAULT', 'no signal');
});
