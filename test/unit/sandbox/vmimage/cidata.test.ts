import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import { CIDATA_VOLUME_ID, resolveUserData, writeCidataIso } from '../../../../src/sandbox/vmimage/cidata';
import { DEFAULT_USER_DATA } from '../../../../src/sandbox/vmimage/cloud-init';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmimage-cidata-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the ISO is labelled cidata and holds the three files; the staging dir goes', async (t) => {
  const pod = tmp(t);
  const iso = join(pod, 'cidata.iso');
  await writeCidataIso(pod, iso, { metaData: '{"instance-id": "u1"}\n', userData: '#cloud-config\n{}\n', networkConfig: '{"version": 2}\n' });
  const img = readFileSync(iso);
  // The primary volume descriptor at sector 16: "CD001", and the volume id at offset 40.
  t.equal(img.subarray(16 * 2048 + 1, 16 * 2048 + 6).toString(), 'CD001');
  t.equal(
    img
      .subarray(16 * 2048 + 40, 16 * 2048 + 72)
      .toString()
      .trim(),
    CIDATA_VOLUME_ID,
  );
  const listing = execFileSync('isoinfo', ['-R', '-f', '-i', iso]).toString().split('\n').filter(Boolean).sort();
  t.same(listing, ['/meta-data', '/network-config', '/user-data']);
  t.same(
    readdirSync(pod).filter((n) => n !== 'cidata.iso'),
    [],
    'nothing else left in the pod dir',
  );
  await writeCidataIso(pod, iso, { metaData: '{}\n', userData: '#cloud-config\n', networkConfig: '{}\n', vendorData: '#cloud-config\n{}\n' });
  const withVendor = execFileSync('isoinfo', ['-R', '-f', '-i', iso]).toString().split('\n').filter(Boolean).sort();
  t.same(withVendor, ['/meta-data', '/network-config', '/user-data', '/vendor-data'], 'vendor-data when given');
});

t.test('user-data from its source, bounded, read inside its mount', async (t) => {
  const vol = tmp(t);
  // kubelet's Secret layout: userdata -> ..data/userdata, ..data -> ..2026_x
  mkdirSync(join(vol, '..2026_x'));
  writeFileSync(join(vol, '..2026_x', 'userdata'), '#cloud-config\nruncmd: [true]\n');
  symlinkSync('..2026_x', join(vol, '..data'));
  symlinkSync('..data/userdata', join(vol, 'userdata'));
  symlinkSync('/etc/passwd', join(vol, 'escape'));
  symlinkSync('../../../../../../etc/passwd', join(vol, 'dotdot'));
  writeFileSync(join(vol, 'big'), 'x'.repeat(5000));
  const mounts = [{ container_path: '/etc/cloud-init', host_path: vol }];
  const file = (containerPath: string) => ({ kind: 'file' as const, containerPath, from: 'pod annotation x' });

  t.equal(await resolveUserData({ kind: 'default' }, [], 4096, 'c1'), DEFAULT_USER_DATA);
  t.equal(await resolveUserData({ kind: 'inline', text: 'hi', from: 'a' }, [], 4096, 'c1'), 'hi');
  await t.rejects(resolveUserData({ kind: 'inline', text: 'x'.repeat(5000), from: 'a' }, [], 4096, 'c1'), /5000 bytes, more than.*4096/);
  t.equal(await resolveUserData(file('/etc/cloud-init/userdata'), mounts, 4096, 'c1'), '#cloud-config\nruncmd: [true]\n', "through kubelet's links");
  const passwdHead = readFileSync('/etc/passwd', 'utf8').slice(0, 10);
  for (const [desc, p] of [
    ['absolute link out of the mount', '/etc/cloud-init/escape'],
    ['relative link out of the mount', '/etc/cloud-init/dotdot'],
  ]) {
    const got = await resolveUserData(file(p), mounts, 4096, 'c1').catch((e: unknown) => e);
    t.ok(got instanceof InvalidArgumentError || (typeof got === 'string' && !got.startsWith(passwdHead)), `${desc}: the host file is never read`);
  }
  await t.rejects(resolveUserData(file('/etc/cloud-init/big'), mounts, 4096, 'c1'), /larger than/);
  await t.rejects(resolveUserData(file('/etc/cloud-init/none'), mounts, 4096, 'c1'), /does not exist/);
  await t.rejects(resolveUserData(file('/var/userdata'), mounts, 4096, 'c1'), /not inside any mount of container c1/);
});
