// A VM template's RAM (template.ts): the memfd the daemon makes with the
// native addon, and what its seals refuse once applied. A restored QEMU
// holds a writable fd to it (QEMU 7.2 opens its RAM file read-write), so
// the seals, not the fd's mode, are what keeps every later VM's start
// intact. Needs the addon (scripts/build-native); says so when it is absent.

import t from 'tap';
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { loadAddon } from '../../../../common/native/addon';
import { createTemplateMemory, sealTemplateMemory, templateBootConfig, templateRestoreConfig, VmTemplate } from '../../../../src/sandbox/microvm/template';

t.test('the template boots into its RAM file; a restore maps it copy-on-write and loads the state', async (t) => {
  t.same(templateBootConfig(7), { memoryFile: { fd: 7, shared: true }, freePageReporting: false });
  t.same(templateRestoreConfig(7, '/s/t.state'), { memoryFile: { fd: 7, shared: false }, restoreFrom: '/s/t.state', freePageReporting: false });
});

let addonError: string | undefined;
try {
  if (!loadAddon().memfdCreate) addonError = 'the addon was built before memfd.cc';
} catch (err) {
  addonError = (err as Error).message;
}

if (addonError) {
  t.fail(`template RAM tests cannot run: ${addonError}`);
} else {
  t.test('a sealed template RAM file refuses writes, resizes and further seals', async (t) => {
    const fd = createTemplateMemory(2);
    t.teardown(() => closeSync(fd));
    t.equal(fstatSync(fd).size, 2 * 1024 * 1024, 'the size of the guest RAM');
    // What the template's QEMU does before the seal: write its RAM.
    t.equal(writeSync(fd, Buffer.from('template'), 0, 8, 0), 8, 'writable until sealed');
    await sealTemplateMemory(fd);
    const a = loadAddon();
    const c = a.memfdConstants!;
    t.equal(a.memfdSeals!(fd), c.F_SEAL_WRITE | c.F_SEAL_SHRINK | c.F_SEAL_GROW | c.F_SEAL_SEAL, 'every seal in force');
    t.throws(() => writeSync(fd, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' }, 'write(2) refused');
    t.throws(() => ftruncateSync(fd, 0), { code: 'EPERM' }, 'shrinking refused');
    t.throws(() => ftruncateSync(fd, 4 * 1024 * 1024), { code: 'EPERM' }, 'growing refused');
    // What a restored QEMU gets: the file reopened read-write by its /proc/self/fd path. Still sealed.
    const again = openSync(`/proc/self/fd/${fd}`, 'r+');
    t.teardown(() => closeSync(again));
    t.throws(() => writeSync(again, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' }, 'refused through a reopened read-write fd too');
    t.ok(a.memfdSealReadOnly!(fd) < 0, 'the seals cannot be changed (F_SEAL_SEAL)');
    const buf = Buffer.alloc(8);
    readSync(again, buf, 0, 8, 0);
    t.equal(buf.toString(), 'template', 'what the template wrote is still there');
  });

  t.test('a template lets go of its RAM and state once', async (t) => {
    const fd = createTemplateMemory(2);
    const tpl = new VmTemplate(fd, `/tmp/vmpod-template-test-${process.pid}.state`);
    tpl.close();
    t.throws(() => fstatSync(fd), { code: 'EBADF' }, 'the memfd is closed');
    const other = openSync('/dev/null', 'r');
    t.teardown(() => closeSync(other));
    tpl.close();
    t.doesNotThrow(() => fstatSync(other), 'a second close does not close whatever reused the number');
  });
}
