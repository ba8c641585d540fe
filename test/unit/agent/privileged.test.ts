// A privileged container in the guest: every capability the agent holds and
// the guest's own devices (agent/src/privileged.ts), through CreateContainer
// and ExecProcess as the host calls them.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { devMajorMinor, effectiveCapabilities, guestDevices, privilegedSpec } from '../../../agent/src/privileged';
import { FAKE_PRIVILEGED_FACTS, ociSpec, readAll, startClient } from './harness';

t.test('major and minor of a dev_t, as glibc splits it', async (t) => {
  const cases: [string, bigint, { major: number; minor: number }][] = [
    ['/dev/null', 0x103n, { major: 1, minor: 3 }],
    ['virtio block vda', (254n << 8n) | 0n, { major: 254, minor: 0 }],
    ['minor above 255', (0x10n << 8n) | 0x34n | (0x12n << 20n), { major: 0x10, minor: 0x1234 }],
    ['major above 4095', (0x345n << 8n) | ((0x12n << 32n) << 12n), { major: 0x12345, minor: 0 }],
  ];
  for (const [desc, rdev, want] of cases) t.same(devMajorMinor(rdev), want, desc);
});

t.test("the agent's effective capabilities from /proc/self/status", async (t) => {
  const cases: [string, string, string[]][] = [
    ['none', 'CapInh:\t0000000000000000\nCapEff:\t0000000000000000\n', []],
    ['chown, net_admin, sys_admin', 'CapEff:\t0000000000201001\nCapBnd:\t000001ffffffffff\n', ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']],
    ['all 41', 'CapEff:\t000001ffffffffff\n', ['CAP_CHOWN']],
    ['no CapEff line', 'Name:\tnode\n', []],
  ];
  for (const [desc, text, want] of cases) {
    const got = effectiveCapabilities(text);
    if (desc === 'all 41') t.equal(got.length, 41, desc);
    else t.same(got, want, desc);
  }
});

t.test('guest devices: character and block nodes of /dev, not pts, shm or console', async (t) => {
  const devs = guestDevices('/dev');
  t.match(
    devs.find((d) => d.path === '/dev/null'),
    { type: 'c', major: 1, minor: 3 },
    '/dev/null found as c 1:3',
  );
  t.notOk(
    devs.some((d) => d.path.startsWith('/dev/pts/') || d.path.startsWith('/dev/shm/') || d.path === '/dev/console'),
    'pts, shm and console left out',
  );
  t.ok(
    devs.every((d) => d.type === 'c' || d.type === 'b'),
    'only device nodes',
  );
  t.same(guestDevices('/nonexistent'), [], 'no /dev: none');
});

t.test("privilegedSpec: the agent's capabilities, the guest devices, all of them allowed", async (t) => {
  const spec = privilegedSpec({ process: { args: ['sh'], capabilities: { bounding: ['CAP_SYS_MODULE'] } }, linux: { resources: { memory: { limit: 1 } }, devices: [] } }, FAKE_PRIVILEGED_FACTS);
  const caps = FAKE_PRIVILEGED_FACTS.capabilities;
  t.same(spec.process?.capabilities, { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] }, 'capabilities: those the agent holds');
  t.same(spec.linux?.devices, FAKE_PRIVILEGED_FACTS.devices, "devices: the guest's");
  t.same(spec.linux?.resources, { memory: { limit: 1 }, devices: [{ allow: true, access: 'rwm' }] }, 'device cgroup allows all; other resources kept');
});

t.test("CreateContainer privileged: the bundle gets the guest's devices and the agent's capabilities, and so do its execs", async (t) => {
  const { h, client } = startClient(t);
  const hostCaps = { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] };
  await client.call('CreateContainer', { container_id: 'p1', oci_spec_json: ociSpec(['sleep', '30'], { capabilities: hostCaps }), rootfs_path: 'p1/rootfs', privileged: true });
  await client.call('CreateContainer', { container_id: 'u1', oci_spec_json: ociSpec(['sleep', '30'], { capabilities: hostCaps }), rootfs_path: 'u1/rootfs' });
  const bundle = (id: string) => JSON.parse(readFileSync(join(h.dirs.bundles, id, 'config.json'), 'utf8')) as { process: { capabilities: { bounding: string[] } }; linux: { devices?: unknown[] } };
  t.same(bundle('p1').process.capabilities.bounding, FAKE_PRIVILEGED_FACTS.capabilities, "privileged: the agent's capabilities");
  t.same(bundle('p1').linux.devices?.length, FAKE_PRIVILEGED_FACTS.devices.length, "privileged: the guest's devices");
  t.same(bundle('u1').process.capabilities.bounding, ['CAP_CHOWN'], 'not privileged: the spec as sent');
  t.equal(bundle('u1').linux.devices, undefined, 'not privileged: no devices added');

  await client.call('StartContainer', { container_id: 'p1' });
  const proc = { args: ['sh', '-c', 'echo ok'], env: ['PATH=/usr/bin:/bin'], cwd: '/', capabilities: hostCaps };
  // The exec's process file is gone once it exited: read what crun was given while it runs.
  const seen: string[][] = [];
  const orig = h.deps.sys.spawn.bind(h.deps.sys);
  h.deps.sys.spawn = (cmd, args, fd) => {
    if (args[0] === 'exec') seen.push((JSON.parse(readFileSync(args[2], 'utf8')) as { capabilities: { bounding: string[] } }).capabilities.bounding);
    return orig(cmd, args, fd);
  };
  await client.call('ExecProcess', { container_id: 'p1', exec_id: 'e1', process_json: Buffer.from(JSON.stringify(proc)) });
  t.equal(await readAll(client, 'p1', 'e1', 'readStdout'), 'ok\n', 'exec ran');
  t.same(seen, [FAKE_PRIVILEGED_FACTS.capabilities], 'an exec in a privileged container is as privileged as the container');
  await client.call('RemoveContainer', { container_id: 'p1', force: true });
  await client.call('RemoveContainer', { container_id: 'u1', force: true });
});
