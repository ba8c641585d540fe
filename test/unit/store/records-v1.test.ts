// Records written by the previous layout (schema 1: no `schema` field, the
// controller's data under `runtime` with a type tag, the runc user inside it)
// load into today's shape, and each controller reads its own part. The
// fixtures are what a daemon built from commit 6240d85 wrote for a runc pod
// and a VM pod, each with a running container (test/fixtures/records-v1);
// the same daemon upgrade was also done live: the new daemon reattached both
// pods, exec worked in both, and removing them left nothing.

import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/log';
import { decodeVmContainerData, decodeVmPodData } from '../../../src/sandbox/microvm/data';
import { reattachTarget } from '../../../src/sandbox/microvm/pod-vm';
import { decodeContainerData, decodeSandboxData } from '../../../src/sandbox/runc/data';
import { CONTAINER_SCHEMA, createContainerStore } from '../../../src/store/container';
import { createSandboxStore, SANDBOX_SCHEMA } from '../../../src/store/sandbox';

const FIXTURES = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'records-v1');
const RUNC_POD = '408ebe52b808fbffea191db286f646527e79358d210e2543f731d740909b80b8';
const VM_POD = '75380e062671d43bee05f177a26040e0474451ec198a8a91df13ea93cf8c7f99';
const RUNC_CTR = '5b6fdb97854906223a486f54fadcc56eedfa689b488b1d7d95b27a4b7bdea386';
const VM_CTR = '707b564c2b1bfb09ae5dee0bb6f33a22006c72e8e742df5063f31de5dee23070';

function load(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-records-v1-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURES, dir, { recursive: true });
  const sandboxes = createSandboxStore(join(dir, 'sandboxes'), silentLogger);
  const containers = createContainerStore(join(dir, 'containers'), silentLogger);
  return { dir, sandboxes, containers, loaded: { sandboxes: sandboxes.load(), containers: containers.load() } };
}

t.test('schema 1 records load as schema 2, none quarantined', async (t) => {
  const { sandboxes, containers, loaded } = load(t);
  t.same(loaded, { sandboxes: 2, containers: 2 }, 'all four records loaded');
  for (const id of [RUNC_POD, VM_POD]) {
    const sb = sandboxes.get(id)!;
    t.equal(sb.schema, SANDBOX_SCHEMA, `${id.slice(0, 8)}: schema ${SANDBOX_SCHEMA}`);
    t.notOk('runtime' in sb || 'handlerType' in sb, `${id.slice(0, 8)}: no fields of the old layout`);
    t.equal(sb.state, 'SANDBOX_READY');
  }
  t.equal(sandboxes.get(RUNC_POD)!.handler, 'runc');
  t.equal(sandboxes.get(VM_POD)!.handler, 'vm');
  const rc = containers.get(RUNC_CTR)!;
  t.equal(rc.schema, CONTAINER_SCHEMA);
  t.same(rc.user, { uid: 0, gid: 0, additionalGids: [0, 10] }, "the runc container's user moved out of the controller data");
  t.equal(containers.get(VM_CTR)!.user, null, 'a VM container of the old layout has no recorded user');
});

t.test('each controller reads its part of a schema 1 record', async (t) => {
  const { sandboxes, containers } = load(t);
  const runcPod = decodeSandboxData(sandboxes.get(RUNC_POD)!.controller!, RUNC_POD);
  t.ok(runcPod.infraPid > 0 && runcPod.podDir.endsWith(RUNC_POD), 'runc pod: infra pid and pod dir');
  const runcCtr = decodeContainerData(containers.get(RUNC_CTR)!.controller!, RUNC_CTR);
  t.ok(runcCtr.pid > 0 && runcCtr.bundle.endsWith(RUNC_CTR), 'runc container: pid and bundle');
  const vmPod = decodeVmPodData(sandboxes.get(VM_POD)!.controller!, VM_POD);
  t.equal(vmPod.v, 2, 'VM pod data read as version 2');
  t.notOk('type' in vmPod, 'without the old type tag');
  const target = reattachTarget('/var/tmp/v1rec/s', VM_POD, vmPod);
  t.same([target.runDir, target.layout, target.notes], [vmPod.vmRunDir, 'current', []], 'a restarted daemon finds the VM where the record says');
  const vmCtr = decodeVmContainerData(containers.get(VM_CTR)!.controller!, VM_CTR);
  t.equal(vmCtr.shareDir, `c/${VM_CTR}`, 'VM container: its share dir');
  t.ok(Array.isArray(vmCtr.process.env), 'and the process template for execs');
});

t.test("an update writes the record back in today's layout", async (t) => {
  const { dir, sandboxes } = load(t);
  sandboxes.update(RUNC_POD, (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
  const raw = JSON.parse(readFileSync(join(dir, 'sandboxes', `${RUNC_POD}.json`), 'utf8')) as Record<string, unknown>;
  t.equal(raw.schema, SANDBOX_SCHEMA, 'schema written');
  t.notOk('runtime' in raw, 'old field gone from the file');
});

t.test('a record of a schema this version does not know is quarantined, not half-read', async (t) => {
  const { dir, sandboxes } = load(t);
  const p = join(dir, 'sandboxes', `${RUNC_POD}.json`);
  const raw = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  writeFileSync(p, JSON.stringify({ ...raw, schema: 99 }));
  t.equal(sandboxes.load(), 1, 'the other record still loads');
  t.equal(sandboxes.get(RUNC_POD), undefined, 'the unknown one is set aside');
});
