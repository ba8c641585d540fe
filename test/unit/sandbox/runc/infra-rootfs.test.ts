import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureInfraRootfs } from '../../../../src/sandbox/runc/pod';
import { RuncPaths } from '../../../../src/sandbox/runc/paths';

t.test('pods started at once on a fresh daemon all get the infra binary (a shared temp name was renamed away under the others: ENOENT)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-infra-rootfs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, 'vmpod-infra');
  writeFileSync(binary, 'x'.repeat(1 << 20));
  const paths = new RuncPaths(join(dir, 'state'));
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => ensureInfraRootfs(paths, binary)));
  t.same(
    results.filter((r) => r.status === 'rejected').map((r) => String(r.reason)),
    [],
    'every concurrent copy succeeds',
  );
  const dest = join(paths.infraRootfs, 'vmpod-infra');
  t.equal(readFileSync(dest, 'utf8').length, 1 << 20, 'the whole binary is there');
  t.equal(statSync(dest).mode & 0o777, 0o755, 'executable');
  t.same(readdirSync(paths.infraRootfs).sort(), ['dev', 'proc', 'vmpod-infra'], 'no temp file left behind');
});
