import t from 'tap';
import { conmonArgs, exitFile, oomFile } from '../../../../src/sandbox/runc/conmon';

const base = {
  id: 'c1',
  name: 'web',
  bundle: '/s/containers/c1',
  runcRoot: '/s/runc',
  runcBinary: '/usr/sbin/runc',
  logPath: '/var/log/pods/x/web.log',
  exitDir: '/s/exits',
  tty: false,
  stdin: false,
  stdinOnce: false,
};

const value = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

t.test('conmon command line', async (t) => {
  const args = conmonArgs(base);
  const cases: [string, string][] = [
    ['--api-version', '1'],
    ['--cid', 'c1'],
    ['--runtime', '/usr/sbin/runc'],
    ['--bundle', '/s/containers/c1'],
    ['--exit-dir', '/s/exits'],
    ['--log-path', 'k8s-file:/var/log/pods/x/web.log'],
    ['--runtime-arg', '--root=/s/runc'],
    ['--persist-dir', '/s/containers/c1'],
  ];
  for (const [flag, want] of cases) t.equal(value(args, flag), want, flag);
  t.notOk(args.includes('--terminal'), 'no tty by default');
  t.notOk(args.includes('--stdin'), 'no stdin by default');
});

t.test('tty, stdin and log options', async (t) => {
  const cases: { desc: string; o: Partial<typeof base>; has: string[]; lacks: string[] }[] = [
    { desc: 'tty', o: { tty: true }, has: ['--terminal'], lacks: ['--stdin'] },
    { desc: 'stdin kept open', o: { stdin: true }, has: ['--stdin', '--leave-stdin-open'], lacks: [] },
    { desc: 'stdin once', o: { stdin: true, stdinOnce: true }, has: ['--stdin'], lacks: ['--leave-stdin-open'] },
    { desc: 'no log path: output kept in the bundle', o: { logPath: '' }, has: ['k8s-file:/s/containers/c1/output.log'], lacks: [] },
  ];
  for (const c of cases) {
    const args = conmonArgs({ ...base, ...c.o });
    for (const h of c.has) t.ok(args.includes(h), `${c.desc}: ${h}`);
    for (const l of c.lacks) t.notOk(args.includes(l), `${c.desc}: no ${l}`);
  }
  t.equal(exitFile('/s/exits', 'c1'), '/s/exits/c1', 'exit file path');
  t.equal(oomFile('/b'), '/b/oom', 'oom file path');
});

t.test("a restore: conmon runs runc restore from the images with vmpod's CRIU", async (t) => {
  const plain = conmonArgs(base);
  t.notOk(plain.includes('--restore'), 'no --restore for a fresh container');
  const args = conmonArgs({ ...base, restore: { imagesDir: '/s/containers/c1/checkpoint', criuBinary: '/usr/local/lib/vmpod/criu' } });
  t.equal(value(args, '--restore'), '/s/containers/c1/checkpoint', '--restore names the images');
  const runtimeArgs = args.filter((_a, i) => args[i - 1] === '--runtime-arg');
  t.same(runtimeArgs, ['--root=/s/runc', '--criu=/usr/local/lib/vmpod/criu'], "runc's global options: its root and vmpod's CRIU");
});
