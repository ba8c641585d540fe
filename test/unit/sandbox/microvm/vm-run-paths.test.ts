// The VM run dir's path (layout.ts): short whatever the state dir, distinct
// per daemon and pod, stable across restarts, and a record of either layout
// finds its VM again (regression: a state dir a little longer than the
// default made RunPodSandbox fail with "unix socket path ... is 108 bytes").

import t from 'tap';
import { MAX_UNIX_SOCKET_PATH } from '../../../../src/hypervisor/qemu/validate';
import { RUN_FILES } from '../../../../src/hypervisor/vm-config';
import { podPaths, recordedVmRunDir, VM_RUN_BASE, vmRunPaths } from '../../../../src/sandbox/microvm/layout';
import { reattachTarget } from '../../../../src/sandbox/microvm/pod-vm';

const id = (c: string): string => c.repeat(64);
const bytes = (p: string): number => Buffer.byteLength(p);

t.test('every socket fits sun_path for state dirs of 1..200 characters and 64-character (and longer) ids', async (t) => {
  const states = Array.from({ length: 200 }, (_, i) => (i === 0 ? '/' : `/${'s'.repeat(i)}`));
  const lengths = new Set<number>();
  let worst = 0;
  for (const state of states) {
    // 64 characters as CRI ids are; 128, the longest id layout.ts accepts.
    for (const podId of [id('a'), id('f'), `${'0'.repeat(63)}9`, 'b'.repeat(128)]) {
      const run = vmRunPaths(state, podId);
      for (const f of ['qmpSocket', 'agentSocket'] as const) worst = Math.max(worst, bytes(run[f]));
      lengths.add(bytes(run.dir));
      if (!run.dir.startsWith(`${VM_RUN_BASE}/`)) t.fail(`state of ${state.length} chars: ${run.dir} is not under ${VM_RUN_BASE}`);
    }
  }
  t.equal(states.at(-1)?.length, 200, 'the longest state dir tried has 200 characters');
  t.ok(worst <= MAX_UNIX_SOCKET_PATH, `the longest socket path is ${worst} bytes, at most ${MAX_UNIX_SOCKET_PATH}`);
  t.same([...lengths], [bytes(VM_RUN_BASE) + 1 + 32], 'the run dir has one length, whatever the state dir');
  // Every file QEMU binds or connects in the run dir, not only today's two sockets.
  const longestName = Math.max(...Object.values(RUN_FILES).map((n) => bytes(n)));
  t.ok(bytes(vmRunPaths('/x', id('a')).dir) + 1 + longestName <= MAX_UNIX_SOCKET_PATH, 'any run file name would fit as a socket too');
});

t.test('names: distinct per daemon and pod, the same for the same state dir however spelled', async (t) => {
  const cases: { desc: string; a: [string, string]; b: [string, string]; same: boolean }[] = [
    { desc: 'same state, same id', a: ['/run/vmpod', id('a')], b: ['/run/vmpod', id('a')], same: true },
    { desc: 'trailing slash', a: ['/run/vmpod', id('a')], b: ['/run/vmpod/', id('a')], same: true },
    { desc: 'doubled slash and dot', a: ['/run/vmpod', id('a')], b: ['//run/./vmpod', id('a')], same: true },
    { desc: 'dot-dot', a: ['/run/vmpod', id('a')], b: ['/run/x/../vmpod', id('a')], same: true },
    { desc: 'two daemons, one pod id', a: ['/tmp/d1/state', id('a')], b: ['/tmp/d2/state', id('a')], same: false },
    { desc: 'one daemon, two pods', a: ['/run/vmpod', id('a')], b: ['/run/vmpod', id('b')], same: false },
    // Without a separator "/a/b" + "c" and "/a/bc"-like splits could meet.
    { desc: 'state/id split moved', a: ['/run/vmpod1', `2${'0'.repeat(63)}`], b: ['/run/vmpod12', '0'.repeat(64)], same: false },
  ];
  for (const c of cases) {
    const [x, y] = [vmRunPaths(...c.a).dir, vmRunPaths(...c.b).dir];
    if (c.same) t.equal(x, y, c.desc);
    else t.not(x, y, c.desc);
  }
});

t.test('the run dir is linked from the state dir where the previous layout kept it', async (t) => {
  const run = vmRunPaths('/run/vmpod', 'abc123');
  t.equal(run.stateLink, podPaths('/run/vmpod', 'abc123').vmRunDir);
  t.equal(run.stateLink, '/run/vmpod/vm/abc123');
  t.equal(run.qmpSocket, `${run.dir}/qmp.sock`);
  t.equal(run.agentSocket, `${run.dir}/agent.sock`);
  t.throws(() => vmRunPaths('/run/vmpod', '../x'), { code: 'INVALID_ARGUMENT' }, 'ids that would escape are refused');
});

t.test('a record finds its run dir in the layout that wrote it', async (t) => {
  const state = '/run/vmpod';
  const podId = id('c');
  const run = vmRunPaths(state, podId);
  const cases: { desc: string; recorded: string | undefined; want: { dir: string; layout: string; known: boolean } }[] = [
    { desc: 'written by this layout', recorded: run.dir, want: { dir: run.dir, layout: 'current', known: true } },
    { desc: 'written before the run dirs moved', recorded: `${state}/vm/${podId}`, want: { dir: `${state}/vm/${podId}`, layout: 'previous', known: true } },
    { desc: "another pod's dir", recorded: vmRunPaths(state, id('d')).dir, want: { dir: run.dir, layout: 'current', known: false } },
    { desc: 'a path outside both layouts', recorded: '/etc', want: { dir: run.dir, layout: 'current', known: false } },
    { desc: 'no run dir recorded', recorded: undefined, want: { dir: run.dir, layout: 'current', known: false } },
  ];
  for (const c of cases) t.same(recordedVmRunDir(state, podId, c.recorded), c.want, c.desc);
});

t.test('reattach: run dir and agent endpoint from the record, paths derived', async (t) => {
  const state = '/tmp/vmpod-it/state';
  const podId = id('e');
  const run = vmRunPaths(state, podId);
  const legacy = `${state}/vm/${podId}`;
  const cases: { desc: string; data: Parameters<typeof reattachTarget>[2]; runDir: string; endpoint: unknown; notes: number }[] = [
    {
      desc: 'serial, this layout',
      data: { vmRunDir: run.dir, agent: { transport: 'serial', socketPath: run.agentSocket } },
      runDir: run.dir,
      endpoint: { transport: 'serial', socketPath: run.agentSocket },
      notes: 0,
    },
    {
      desc: 'serial, previous layout',
      data: { vmRunDir: legacy, agent: { transport: 'serial', socketPath: `${legacy}/agent.sock` } },
      runDir: legacy,
      endpoint: { transport: 'serial', socketPath: `${legacy}/agent.sock` },
      notes: 0,
    },
    { desc: 'vsock keeps its recorded CID', data: { vmRunDir: run.dir, agent: { transport: 'vsock', cid: 42 } }, runDir: run.dir, endpoint: { transport: 'vsock', cid: 42 }, notes: 0 },
    { desc: 'no endpoint recorded: the serial socket of the run dir', data: { vmRunDir: legacy }, runDir: legacy, endpoint: { transport: 'serial', socketPath: `${legacy}/agent.sock` }, notes: 0 },
    {
      desc: 'a recorded socket elsewhere is not followed',
      data: { vmRunDir: run.dir, agent: { transport: 'serial', socketPath: '/tmp/evil.sock' } },
      runDir: run.dir,
      endpoint: { transport: 'serial', socketPath: run.agentSocket },
      notes: 1,
    },
    {
      desc: 'a recorded run dir elsewhere is not followed',
      data: { vmRunDir: '/tmp', agent: { transport: 'serial', socketPath: run.agentSocket } },
      runDir: run.dir,
      endpoint: { transport: 'serial', socketPath: run.agentSocket },
      notes: 1,
    },
  ];
  for (const c of cases) {
    const r = reattachTarget(state, podId, c.data);
    t.equal(r.runDir, c.runDir, `${c.desc}: run dir`);
    t.same(r.endpoint, c.endpoint, `${c.desc}: endpoint`);
    t.equal(r.notes.length, c.notes, `${c.desc}: ${c.notes} note(s) ${r.notes.join('; ')}`);
  }
});
