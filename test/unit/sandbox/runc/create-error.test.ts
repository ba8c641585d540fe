import t from 'tap';
import { runcCreateError, runcErrorText } from '../../../../src/sandbox/runc/create-error';

t.test("a process that cannot start is the caller's FAILED_PRECONDITION; anything else is INTERNAL", async (t) => {
  const cases: { desc: string; msg: string; code: string }[] = [
    { desc: 'command not in PATH', msg: 'runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH', code: 'FAILED_PRECONDITION' },
    { desc: 'absolute command missing', msg: 'runc create failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory', code: 'FAILED_PRECONDITION' },
    { desc: 'command is a directory', msg: 'runc create failed: unable to start container process: exec: "/etc": is a directory', code: 'FAILED_PRECONDITION' },
    {
      desc: 'working dir missing',
      msg: 'runc create failed: unable to start container process: chdir to cwd ("/nowhere") set in config.json failed: no such file or directory',
      code: 'FAILED_PRECONDITION',
    },
    { desc: 'a kernel refusal', msg: 'runc create failed: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/x: permission denied', code: 'INTERNAL' },
    { desc: 'no message', msg: '  ', code: 'INTERNAL' },
  ];
  for (const c of cases) {
    const err = runcCreateError('c1', c.msg);
    t.equal(err.code, c.code, c.desc);
    t.match(err.message, /c1/, `${c.desc}: names the container`);
    t.match(err.message, c.msg.trim() || 'no message', `${c.desc}: keeps runc's words`);
  }
});

t.test("runc's logrus lines: the last error's message, unquoted; its warnings dropped", async (t) => {
  const logged = [
    'time="2026-12-05T10:54:01Z" level=warning msg="cannot toggle freezer: cgroups not configured for container"',
    'time="2026-12-05T10:54:01Z" level=warning msg="lstat : no such file or directory"',
    'time="2026-12-05T10:54:01Z" level=error msg="runc create failed: unable to start container process: exec: \\"/no/such/command\\": stat /no/such/command: no such file or directory"',
  ].join('\n');
  const want = 'runc create failed: unable to start container process: exec: "/no/such/command": stat /no/such/command: no such file or directory';
  t.equal(runcErrorText(logged), want);
  const err = runcCreateError('c1', logged);
  t.equal(err.code, 'FAILED_PRECONDITION', "as runc logs it: still the caller's");
  t.notMatch(err.message, /freezer/, 'without the warnings');
  t.equal(runcErrorText('plain words\n'), 'plain words', 'not logrus: kept');
});
