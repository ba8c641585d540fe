// A full filesystem under a record or any atomically written file is
// RESOURCE_EXHAUSTED naming what could not be written, not an INTERNAL
// "ENOSPC" (found by the disk-full sweep, test/fault/disk-full.test.ts: every
// write of a pod's life on a full root answered INTERNAL with a bare errno).
// The write leaves the old content and no temp file behind.

import t from 'tap';
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalError, ResourceExhaustedError } from '../../../common/errors';
import { isOutOfSpace, outOfSpaceError } from '../../../src/store/out-of-space';
import { silentLogger } from '../../../src/log';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, write`), { code });
}

t.test('what counts as a full filesystem', async (t) => {
  const cases: { desc: string; err: unknown; full: boolean }[] = [
    { desc: 'ENOSPC', err: errno('ENOSPC'), full: true },
    { desc: 'EDQUOT (a quota)', err: errno('EDQUOT'), full: true },
    { desc: 'ENOSPC as the cause of a step error', err: new InternalError('step "x" failed', { cause: errno('ENOSPC') }), full: true },
    { desc: 'EIO', err: errno('EIO'), full: false },
    { desc: 'a message that only says ENOSPC (never classified by text)', err: new Error('ENOSPC: no space left on device'), full: false },
    { desc: 'not an error', err: 'ENOSPC', full: false },
  ];
  for (const c of cases) t.equal(isOutOfSpace(c.err), c.full, c.desc);
});

t.test('the advice to free space is given once, by the first to say it', async (t) => {
  const first = outOfSpaceError(errno('ENOSPC'), 'no space left to write /r/x.json');
  t.type(first, ResourceExhaustedError);
  t.equal(first!.message, 'no space left to write /r/x.json; free space on that filesystem and retry');
  const second = outOfSpaceError(first, 'RunPodSandbox ns/p (id): step "record" failed: ' + first!.message);
  t.equal(second!.message.match(/free space/g)?.length, 1, 'restated, not repeated');
  t.equal(outOfSpaceError(errno('EIO'), 'x'), undefined, 'anything else is left to the caller');
});

/** Absolute: tap resolves a relative name against the source-mapped .ts file, not the compiled one. */
const ATOMIC = require.resolve('../../../src/store/atomic');

// The mocked modules load their own copy of common/errors, so errors are matched by their code, not their class.
const fullWrite = (): typeof fs.writeSync => () => {
  throw errno('ENOSPC');
};

t.test('writeFileAtomic on a full filesystem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-enospc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const real = t.mockRequire<typeof import('../../../src/store/atomic')>(ATOMIC);
  real.writeJsonAtomic(join(dir, 'p.json'), { v: 1 });
  const full = t.mockRequire<typeof import('../../../src/store/atomic')>(ATOMIC, { 'node:fs': { ...fs, writeSync: fullWrite() } });
  t.throws(() => full.writeJsonAtomic(join(dir, 'p.json'), { v: 2 }), {
    code: 'RESOURCE_EXHAUSTED',
    message: `no space left to write ${join(dir, 'p.json')}; free space on that filesystem and retry`,
  });
  t.same(readdirSync(dir), ['p.json'], 'no temp file is left');
  t.same(JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')), { v: 1 }, 'the old content stays');

  const failedRename = t.mockRequire<typeof import('../../../src/store/atomic')>(ATOMIC, {
    'node:fs': {
      ...fs,
      renameSync: () => {
        throw errno('EIO');
      },
    },
  });
  t.throws(() => failedRename.writeJsonAtomic(join(dir, 'p.json'), { v: 3 }), { code: 'EIO' }, 'another error is thrown as it came');
  t.same(readdirSync(dir), ['p.json'], 'a failed rename leaves no temp file either');
});

t.test('a record store on a full filesystem says which record, and keeps the old one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-enospc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let full = false;
  const atomic = t.mockRequire<typeof import('../../../src/store/atomic')>(ATOMIC, {
    'node:fs': {
      ...fs,
      writeSync: (...a: Parameters<typeof fs.writeSync>) => {
        if (full) throw errno('ENOSPC');
        return fs.writeSync(...a);
      },
    },
  });
  const { RecordStore } = t.mockRequire<typeof import('../../../src/store/record-store')>(require.resolve('../../../src/store/record-store'), { [ATOMIC]: atomic });
  const store = new RecordStore<{ id: string; v: number }>(dir, 'pod sandbox', silentLogger);
  store.load();
  store.create({ id: 'p1', v: 1 });
  full = true;
  t.throws(() => store.update('p1', (r) => ({ ...r, v: 2 })), {
    code: 'RESOURCE_EXHAUSTED',
    message: `cannot write the record of pod sandbox p1 in ${dir}: no space left; free space on that filesystem and retry`,
  });
  t.same(store.get('p1'), { id: 'p1', v: 1 }, 'the record in memory is the old one');
  t.throws(() => store.create({ id: 'p2', v: 1 }), { code: 'RESOURCE_EXHAUSTED', message: /record of pod sandbox p2/ }, 'a create too');
  t.equal(store.get('p2'), undefined, 'and a failed create is not kept');
  full = false;
  store.load();
  t.same(
    store.list().map((r) => r.v),
    [1],
    'on disk: the old record only',
  );
});
