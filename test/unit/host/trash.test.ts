import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { Trash } from '../../../src/host/trash';

function tree(root: string, name: string): string {
  const p = join(root, name);
  mkdirSync(join(p, 'upper', 'etc'), { recursive: true });
  writeFileSync(join(p, 'upper', 'etc', 'f'), 'x');
  return p;
}

/** A remove that waits until the test lets it go, so that "after the call, before the deletion" can be looked at. */
function heldRemove(): { remove: (p: string) => Promise<void>; release: () => void; asked: string[] } {
  const asked: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const remove = async (p: string) => {
    asked.push(p);
    await gate;
    rmSync(p, { recursive: true, force: true });
  };
  return { remove, release: () => release(), asked };
}

t.test('discard takes the tree away at once and deletes it in the background; drained waits for it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-trash-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const h = heldRemove();
  const trash = new Trash(join(root, 'trash'), pino({ level: 'silent' }), h.remove);
  const p = tree(root, 'c1');
  await trash.discard(p);
  t.notOk(existsSync(p), 'gone under its own name when discard resolves');
  t.equal(readdirSync(join(root, 'trash')).length, 1, 'waiting in the trash');
  t.equal(trash.size, 1);
  let drained = false;
  const d = trash.drained().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(drained, 'drained waits for the deletion in flight');
  h.release();
  await d;
  t.equal(readdirSync(join(root, 'trash')).length, 0, 'deleted');
  t.equal(trash.size, 0);
});

t.test('a missing path is done; a failed deletion is logged, ends the wait, and the next sweep deletes it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-trash-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  await new Trash(join(root, 'trash'), log).discard(join(root, 'never-was'));
  t.notOk(existsSync(join(root, 'trash', 'never-was')));

  const failing = new Trash(join(root, 'trash'), log, () => Promise.reject(new Error('EBUSY: still in use')));
  await failing.discard(tree(root, 'c2'));
  await failing.drained();
  t.match(lines.join(''), /EBUSY: still in use.*deleting a discarded tree failed/, 'logged with the reason');
  t.equal(readdirSync(join(root, 'trash')).length, 1, 'left for the sweep');

  const restarted = new Trash(join(root, 'trash'), log);
  restarted.sweep();
  await restarted.drained();
  t.equal(readdirSync(join(root, 'trash')).length, 0, "the next run's sweep deleted it");
});

t.test('a tree on another filesystem than the trash is deleted before discard resolves', async (t) => {
  // /dev/shm is a tmpfs; tmpdir() is not one on these machines (checked: else the rename would succeed and this test says so).
  const shm = mkdtempSync('/dev/shm/vmpod-trash-');
  const root = mkdtempSync(join(tmpdir(), 'vmpod-trash-'));
  t.teardown(() => {
    rmSync(shm, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });
  const trash = new Trash(join(root, 'trash'), pino({ level: 'silent' }));
  const p = tree(shm, 'c3');
  await trash.discard(p);
  t.notOk(existsSync(p), 'deleted');
  t.equal(trash.size, 0, 'nothing left in flight: the rename could not cross filesystems');
  t.same(readdirSync(join(root, 'trash')), []);
});
