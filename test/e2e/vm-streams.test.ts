// Streaming exec and attach in a VM pod, through the PodService (the CRI
// streaming server is built beside this): one VM under TCG. Exec with stdin
// gives its output and exit code; a terminal takes a resize (`stty size`);
// output written just before the process exits arrives; close() in the
// middle of an exec kills its process in the guest (a later ExecSync `ps`
// finds none); attach to a `cat` container echoes stdin; a client that
// stops reading holds the process back in the guest and the session's own
// buffer stays bounded (every byte arrives once it reads again).

import t from 'tap';
import type { Readable } from 'node:stream';
import { STREAM_READ_BYTES } from '../../src/sandbox/microvm/exec-stream';
import type { CriClient } from '../helpers/cri-client';
import type { InProcessCri } from '../helpers/cri-server';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);

// One VM boot under TCG plus everything around it on a loaded 2-core machine.
t.setTimeout(15 * 60_000);

if ('missing' in guest) {
  t.fail(`VM streams e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'vps-',
    netnsPrefix: 'vmpod-vmstreams-net-',
    cniName: 'vmstreams',
    subnet: '10.88.93.0/24',
    imageTag: 'vmstreams',
    busyboxLinks: ['sleep', 'echo', 'cat', 'head', 'stty', 'ps', 'grep', 'yes', 'wc'],
  });
  const { podConfig, run } = world;
  let cri: InProcessCri | undefined;
  let client: CriClient;

  t.before(async () => {
    ({ cri, client } = await world.start());
  });

  t.teardown(() => world.teardown((s) => t.comment(s)));

  async function readAll(r: NodeJS.ReadableStream | undefined): Promise<string> {
    let s = '';
    for await (const b of r ?? []) s += (b as Buffer).toString();
    return s;
  }

  const noTty = { stdin: false, stdout: true, stderr: true, tty: false };

  t.test('exec and attach with streams in a VM pod', async (t) => {
    const pod = podConfig('streams', { 'io.kubernetes.cri.untrusted-workload': 'true' });
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const main = await run(podId, pod, 'main', ['sleep', '3600']);
    const pods = cri!.pods;

    const e1 = await pods.exec(main, ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'], { ...noTty, stdin: true });
    e1.stdin!.end('hello from stdin\n');
    const [out1, err1, done1] = await Promise.all([readAll(e1.stdout), readAll(e1.stderr), e1.done]);
    t.equal(out1, 'hello from stdin\n', 'exec: stdin came back on stdout');
    t.equal(err1, 'to-stderr\n', 'exec: stderr apart');
    t.equal(done1.exitCode, 3, 'exec: exit code 3');
    e1.close();

    const e2 = await pods.exec(main, ['sh', '-c', 'read x; stty size'], { stdin: true, stdout: true, stderr: false, tty: true });
    await e2.resize({ width: 123, height: 45 });
    e2.stdin!.write('go\n');
    const [out2, done2] = await Promise.all([readAll(e2.stdout), e2.done]);
    t.match(out2, /45 123/, 'tty exec: the process saw the resize');
    t.equal(done2.exitCode, 0);
    e2.close();

    // The last lines are written right before the process exits, on a terminal: they must not be cut off.
    // (No size is set: without a resize the pty is 0x0, so `stty size` would fail, as under containerd.)
    for (let i = 0; i < 3; i++) {
      const e3 = await pods.exec(main, ['sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done'], { stdin: false, stdout: true, stderr: false, tty: true });
      const [out3] = await Promise.all([readAll(e3.stdout), e3.done]);
      t.match(out3, /line298\r?\nline299\r?\n$/, `tty exec ${i}: output written at exit arrived, to the last line`);
      t.equal(out3.split('\n').length, 301, `tty exec ${i}: every line`);
      e3.close();
    }

    const e4 = await pods.exec(main, ['sh', '-c', 'echo started; exec sleep 4242'], noTty);
    const first = await new Promise<string>((res) => e4.stdout!.once('data', (b: Buffer) => res(b.toString())));
    t.equal(first, 'started\n', 'exec runs');
    e4.close();
    await t.rejects(e4.done, 'a closed exec session ends with an error');
    let left = '';
    for (let i = 0; i < 50; i++) {
      const ps = await client.runtime.ExecSync({ container_id: main, cmd: ['ps', '-o', 'args'], timeout: 30 }, 60_000);
      left = Buffer.from(ps.stdout).toString();
      if (!left.includes('sleep 4242')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    t.notMatch(left, /sleep 4242/, 'close() killed the exec in the guest');

    // A reader that stops: the session holds at most its buffer plus one read; every byte arrives later.
    const total = 16 << 20;
    const e5 = await pods.exec(main, ['head', '-c', String(total), '/dev/zero'], noTty);
    const r5 = e5.stdout as Readable;
    while (r5.readableLength < r5.readableHighWaterMark) await new Promise((r) => setTimeout(r, 50));
    t.ok(r5.readableLength <= r5.readableHighWaterMark + STREAM_READ_BYTES, `slow reader: the session holds ${r5.readableLength} bytes, bounded`);
    let n = 0;
    for await (const b of r5) n += (b as Buffer).length;
    t.equal(n, total, 'slow reader: nothing lost, the process was held back in the guest');
    t.equal((await e5.done).exitCode, 0);
    e5.close();

    const catId = await run(podId, pod, 'cat', ['cat'], { stdin: true, stdin_once: false });
    const a = await pods.attach(catId, { stdin: true, stdout: true, stderr: true, tty: false });
    const echoed = new Promise<string>((res) => {
      let s = '';
      a.stdout!.on('data', (b: Buffer) => {
        s += b.toString();
        if (s.includes('ping\n')) res(s);
      });
    });
    a.stdin!.write('ping\n');
    t.equal(await echoed, 'ping\n', 'attach: stdin to the container, its output back');
    a.close();
    const { status } = await client.runtime.ContainerStatus({ container_id: catId });
    t.equal(status?.state, 'CONTAINER_RUNNING', 'closing the attachment leaves the container running');

    await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
  });
}
