import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { UnavailableError } from '../../../../common/errors';

t.test('a QMP socket that closes before its greeting is UnavailableError at once, not a timeout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-qmp-greeting-'));
  const path = join(dir, 'qmp.sock');
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const err = await QmpClient.connect(path, { commandTimeoutMs: 60_000 }).catch((e: unknown) => e);
  t.match(err, { constructor: UnavailableError, message: /closed before the greeting/ });
});
