// Saving and restoring a VM's state (saved-state.ts) against a fake QMP:
// the commands in QEMU's order, the state file handed over as an fd (QEMU
// opens nothing itself), and a failed or stuck migration reported as one.

import t from 'tap';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeadlineExceededError, InternalError } from '../../../../common/errors';
import { QmpClient } from '../../../../src/hypervisor/qemu/qmp';
import { migrationOutcome, restoreVmState, saveVmState } from '../../../../src/hypervisor/qemu/saved-state';
import { answer, fakeQmp, type QmpRequest } from './fake-qmp';

t.test('migrationOutcome', async (t) => {
  t.same(migrationOutcome({ status: 'completed' }), { done: true });
  t.same(migrationOutcome({ status: 'failed', 'error-desc': 'bad section' }), { failed: 'bad section' });
  t.same(migrationOutcome({ status: 'failed' }), { failed: 'failed' });
  t.same(migrationOutcome({ status: 'cancelled' }), { failed: 'cancelled' });
  for (const status of ['setup', 'active', 'device', undefined]) t.same(migrationOutcome({ status }), { going: true }, `${String(status)}: still going`);
});

/** A fake QEMU whose query-migrate answers `statuses` in turn (the last one for ever after). */
async function fake(t: { teardown(fn: () => void): void }, statuses: Array<Record<string, unknown>>) {
  const seen: QmpRequest[] = [];
  const { path, dir } = await fakeQmp(t, (msg, sock) => {
    seen.push(msg);
    if (msg.execute === 'query-migrate') answer(sock, msg, statuses.length > 1 ? statuses.shift() : statuses[0]);
    else answer(sock, msg);
  });
  const qmp = await QmpClient.connect(path);
  t.teardown(() => qmp.close());
  return { qmp, dir, seen };
}

t.test('save: stop, ignore shared RAM, the file as an fd, migrate, until completed', async (t) => {
  const { qmp, dir, seen } = await fake(t, [{ status: 'active' }, { status: 'completed' }]);
  const file = join(dir, 'vm.state');
  await saveVmState(qmp, file);
  t.same(
    seen.map((m) => m.execute),
    ['stop', 'migrate-set-capabilities', 'getfd', 'migrate', 'query-migrate', 'query-migrate'],
  );
  t.same(seen[1].arguments, { capabilities: [{ capability: 'x-ignore-shared', state: true }] }, 'RAM in shared files stays out of the state');
  t.same(seen[3].arguments, { uri: `fd:${String(seen[2].arguments?.fdname)}` }, 'migrates into the fd it passed');
  t.ok(existsSync(file), 'the daemon made the state file');
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by root alone');
});

t.test('restore: ignore shared RAM, the file as an fd, migrate-incoming, until completed', async (t) => {
  const { qmp, dir, seen } = await fake(t, [{ status: 'setup' }, { status: 'completed' }]);
  const file = join(dir, 'vm.state');
  writeFileSync(file, 'state');
  await restoreVmState(qmp, file);
  t.same(
    seen.map((m) => m.execute),
    ['migrate-set-capabilities', 'getfd', 'migrate-incoming', 'query-migrate', 'query-migrate'],
  );
  t.same(seen[2].arguments, { uri: `fd:${String(seen[1].arguments?.fdname)}` });
});

t.test('restore: a missing state file is named, and QEMU is asked nothing more', async (t) => {
  const { qmp, dir, seen } = await fake(t, [{ status: 'completed' }]);
  const err = await restoreVmState(qmp, join(dir, 'gone.state')).catch((e: unknown) => e);
  t.ok(err instanceof InternalError);
  t.match((err as Error).message, /gone\.state cannot be opened/);
  t.same(
    seen.map((m) => m.execute),
    ['migrate-set-capabilities'],
  );
});

t.test("restore: QEMU's reason for a failed migration is the error", async (t) => {
  const { qmp, dir } = await fake(t, [{ status: 'failed', 'error-desc': 'Unknown savevm section type 7' }]);
  const file = join(dir, 'vm.state');
  writeFileSync(file, 'x');
  await t.rejects(restoreVmState(qmp, file), /restoring the VM state from .*failed: Unknown savevm section type 7/);
});

t.test('save: a migration that never ends is cancelled at the deadline', async (t) => {
  const { qmp, dir, seen } = await fake(t, [{ status: 'active' }]);
  const err = await saveVmState(qmp, join(dir, 'vm.state'), 100).catch((e: unknown) => e);
  t.ok(err instanceof DeadlineExceededError, 'DeadlineExceededError');
  t.equal(seen.at(-1)?.execute, 'migrate_cancel', 'the migration is cancelled, not left running');
});
