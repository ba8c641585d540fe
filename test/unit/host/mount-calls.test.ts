import t from 'tap';
import { InternalError } from '../../../common/errors';
import { AddonUnavailableError } from '../../../common/native/addon';
import { MNT, MS } from '../../../common/native/syscalls';
import { bindShared, mountDirect, mountFlags, splitMountOptions, unmountDirect, type MountSyscalls } from '../../../src/host/mount-calls';

/** Fake syscalls: records each call; `fail(call)` returns the error code to throw, if any. */
function fake(fail: (call: string, flags: number) => string | undefined = () => undefined) {
  const calls: string[] = [];
  const sys: MountSyscalls = {
    mount(source, target, fstype, flags, data) {
      calls.push(`mount ${source} ${target} ${fstype} ${flags} ${data}`);
      const code = fail('mount', flags);
      if (code) throw Object.assign(new Error(`mount ${code} '${target}'`), { code });
    },
    umount(target, flags) {
      calls.push(`umount ${target} ${flags}`);
      const code = fail('umount', flags);
      if (code) throw Object.assign(new Error(`umount2 ${code} '${target}'`), { code });
    },
  };
  return { sys, calls };
}

const noAddon: MountSyscalls = {
  mount() {
    throw new AddonUnavailableError(['/nowhere/vsock.node'], new Error('missing'));
  },
  umount() {
    throw new AddonUnavailableError(['/nowhere/vsock.node'], new Error('missing'));
  },
};

t.test("mount(8)'s -o words become mount(2)'s flags and data", async (t) => {
  const cases = [
    { desc: "the pod's /dev/shm", options: 'nosuid,nodev,noexec,mode=1777,size=65536k', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=1777,size=65536k' },
    { desc: 'an overlay: all data', options: 'lowerdir=/a:/b,upperdir=/u,workdir=/w', flags: 0, data: 'lowerdir=/a:/b,upperdir=/u,workdir=/w' },
    { desc: 'ro and relatime are flags, rw is none', options: 'ro,relatime,rw', flags: MS.RDONLY | MS.RELATIME, data: '' },
    { desc: 'empty', options: '', flags: 0, data: '' },
  ];
  for (const c of cases) t.same(splitMountOptions(c.options), { flags: c.flags, data: c.data }, c.desc);
});

t.test('mountDirect calls mount(2), says false without the addon, and names the target in a refusal', async (t) => {
  const ok = fake();
  t.equal(mountDirect('shm', '/p/shm', 'tmpfs', 'nosuid,size=1k', ok.sys), true);
  t.same(ok.calls, [`mount shm /p/shm tmpfs ${MS.NOSUID} size=1k`]);
  const bare = fake();
  mountDirect('overlay', '/r', 'overlay', 'ro', bare.sys);
  t.same(bare.calls, [`mount overlay /r overlay ${MS.RDONLY} null`], 'no data string: null, not ""');
  t.equal(mountDirect('shm', '/p/shm', 'tmpfs', '', noAddon), false, 'no addon: the caller spawns mount(8)');
  const refused = fake(() => 'EPERM');
  t.throws(() => mountDirect('shm', '/p/shm', 'tmpfs', '', refused.sys), InternalError, 'a refusal is INTERNAL');
  t.throws(() => mountDirect('shm', '/p/shm', 'tmpfs', '', refused.sys), /mounting tmpfs on \/p\/shm failed: mount EPERM/, 'naming what and where');
});

t.test('bindShared binds the dir on itself unless mounted, then makes it shared', async (t) => {
  const fresh = fake();
  t.equal(bindShared('/s/netns', false, fresh.sys), true);
  t.same(fresh.calls, [`mount /s/netns /s/netns  ${MS.BIND} null`, `mount none /s/netns  ${MS.SHARED} null`]);
  const again = fake();
  bindShared('/s/netns', true, again.sys);
  t.same(again.calls, [`mount none /s/netns  ${MS.SHARED} null`], 'already a mount point: only made shared');
  t.equal(bindShared('/s/netns', false, noAddon), false);
});

t.test('unmountDirect is idempotent and detaches a busy mount', async (t) => {
  const cases = [
    { desc: 'mounted', fail: undefined, lazy: false, result: 'unmounted', calls: ['umount /m 0'] },
    { desc: 'nothing mounted there (EINVAL)', fail: 'EINVAL', lazy: false, result: 'not-mounted', calls: ['umount /m 0'] },
    { desc: 'the path is gone (ENOENT)', fail: 'ENOENT', lazy: false, result: 'not-mounted', calls: ['umount /m 0'] },
    { desc: 'lazy', fail: undefined, lazy: true, result: 'detached', calls: [`umount /m ${MNT.DETACH}`] },
    { desc: 'lazy, nothing mounted', fail: 'EINVAL', lazy: true, result: 'not-mounted', calls: [`umount /m ${MNT.DETACH}`] },
  ] as const;
  for (const c of cases) {
    const f = fake(() => c.fail);
    t.equal(unmountDirect('/m', { lazy: c.lazy }, f.sys), c.result, c.desc);
    t.same(f.calls, c.calls, `${c.desc}: calls`);
  }
  const busy = fake((_call, flags) => (flags === 0 ? 'EBUSY' : undefined));
  t.equal(unmountDirect('/m', {}, busy.sys), 'detached', 'busy: detached so that removal cannot hang');
  t.same(busy.calls, ['umount /m 0', `umount /m ${MNT.DETACH}`]);
  t.throws(() => unmountDirect('/m', {}, fake(() => 'EPERM').sys), /unmounting \/m failed: umount2 EPERM/, 'any other refusal is INTERNAL, naming the target');
  t.equal(unmountDirect('/m', {}, noAddon), null, 'no addon: the caller spawns umount(8)');
});

t.test('mountFlags makes a bind, propagation or remount with flags only, says false without the addon, and names what and where in a refusal', async (t) => {
  const { sys, calls } = fake();
  t.equal(mountFlags('pod share', '/src', '/dst', MS.BIND, sys), true, 'done');
  t.equal(mountFlags('pod share', 'none', '/dst', MS.REMOUNT | MS.BIND | MS.RDONLY, sys), true, 'a remount');
  t.same(calls, [`mount /src /dst  ${MS.BIND} null`, `mount none /dst  ${MS.REMOUNT | MS.BIND | MS.RDONLY} null`], 'no filesystem type, no data');
  t.equal(mountFlags('pod share', '/src', '/dst', MS.BIND, noAddon), false, 'false without the addon (the caller runs mount(8))');
  const refusing = fake(() => 'EPERM').sys;
  t.throws(() => mountFlags('pod share', 'none', '/dst', MS.SHARED, refusing), InternalError, 'a refusal is INTERNAL');
  t.throws(() => mountFlags('pod share', 'none', '/dst', MS.SHARED, refusing), /pod share: mount\(2\) of \/dst failed: mount EPERM/, 'naming what and the target');
});
