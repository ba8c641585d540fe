// How the debug CLI prints answers (src/admin/format.ts), and the words for a refused connect (src/admin/client.ts).

import t from 'tap';
import { adminSocketPath, connectProblem } from '../../../src/admin/client';
import { formatAgentLog, formatPods, formatTime, formatVm, printable, printableLines } from '../../../src/admin/format';

const id = '0123456789abcdef'.repeat(4);

t.test('times', async (t) => {
  t.equal(formatTime('1764932284123456789'), '2025-12-05T10:58:04Z');
  t.equal(formatTime('0'), '1970-01-01T00:00:00Z');
  t.equal(formatTime(''), '');
  t.equal(formatTime('-5'), '');
});

t.test('pods table: short id, aligned columns, newest order kept', async (t) => {
  const out = formatPods([
    { id, name: 'web', namespace: 'default', handler: 'runc', state: 'READY', createdAt: '1764932284000000000' },
    { id: 'f'.repeat(64), name: 'a-much-longer-name', namespace: 'kube-system', handler: 'vm', state: 'NOTREADY', createdAt: '1764932285000000000' },
  ]);
  t.equal(
    out,
    [
      'POD ID          NAME                 NAMESPACE     HANDLER   STATE      CREATED',
      '0123456789abc   web                  default       runc      READY      2025-12-05T10:58:04Z',
      'fffffffffffff   a-much-longer-name   kube-system   vm        NOTREADY   2025-12-05T10:58:05Z',
      '',
    ].join('\n'),
  );
  t.equal(formatPods([]).trim(), 'POD ID   NAME   NAMESPACE   HANDLER   STATE   CREATED', 'no pods: the header only');
});

t.test('vm facts: one per line, null as -, console tail last', async (t) => {
  const out = formatVm({
    id,
    name: 'web',
    namespace: 'default',
    handler: 'vm',
    state: 'READY',
    isolation: 'QEMU VM',
    facts: { qemuPid: 4242, running: true, cid: null, accel: 'kvm' },
    consoleTail: 'booting\r\nvmpod-init: switching root\n',
  });
  t.equal(
    out,
    [
      'pod:       ' + id,
      'name:      default/web',
      'handler:   vm',
      'state:     READY',
      'isolation: QEMU VM',
      'qemuPid:   4242',
      'running:   true',
      'cid:       -',
      'accel:     kvm',
      'console tail:',
      'booting',
      'vmpod-init: switching root',
      '',
    ].join('\n'),
  );
  const runc = formatVm({ id, name: 'n', namespace: 'ns', handler: 'runc', state: 'READY', isolation: 'runc', facts: { infraPid: 7 } });
  t.notMatch(runc, /console/, 'no console section when the pod has no console');
  t.match(formatVm({ id, name: 'n', namespace: 'ns', handler: 'vm', state: 'READY', isolation: 'QEMU VM', facts: {}, consoleTail: '' }), /console tail: \(empty\)\n$/);
});

t.test('what a guest or pod metadata sends cannot drive the terminal', async (t) => {
  t.equal(printable('a\x1b[2Jb\x07'), 'a\\x1b[2Jb\\x07', 'escape and bell shown escaped');
  t.equal(printable('tab\tkept'), 'tab\tkept', 'tabs are kept (console output indents with them)');
  t.equal(printable('\u009b31m'), '\\x9b31m', 'C1 CSI');
  t.equal(printableLines('one\r\ntwo\x1b]0;title\x07\n'), 'one\ntwo\\x1b]0;title\\x07\n');
  t.equal(printableLines(''), '');
  t.match(formatPods([{ id, name: 'x\x1b[31m', namespace: 'n', handler: 'runc', state: 'READY', createdAt: '0' }]), /x\\x1b\[31m/);
});

t.test('agent log lines; evicted lines are said', async (t) => {
  const lines = [
    { seq: 10, timeUnixNano: '1764932284000000000', level: 'info', msg: 'agent listening' },
    { seq: 11, timeUnixNano: '1764932285000000000', level: 'error', msg: 'bad\x1bthing' },
  ];
  t.equal(formatAgentLog({ lines, nextSeq: 12, dropped: 0 }), '2025-12-05T10:58:04Z info  agent listening\n2025-12-05T10:58:05Z error bad\\x1bthing\n');
  t.match(formatAgentLog({ lines, nextSeq: 12, dropped: 10 }), /^\(10 older lines were evicted/);
  t.equal(formatAgentLog({ lines: [], nextSeq: 0, dropped: 0 }), '');
});

t.test('connect failures in words', async (t) => {
  t.equal(adminSocketPath('/run/vmpod/vmpod.sock'), '/run/vmpod/vmpod-admin.sock');
  t.match(connectProblem('/s', 'EACCES', 'x'), /^permission denied on the admin socket \/s: only root/);
  t.match(connectProblem('/s', 'ENOENT', 'x'), /no vmpod daemon answers on \/s/);
  t.match(connectProblem('/s', 'ECONNREFUSED', 'x'), /no vmpod daemon answers/);
  t.equal(connectProblem('/s', 'EMFILE', 'too many'), 'cannot reach the admin socket /s: too many');
});
