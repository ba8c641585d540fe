import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import { RecordStore } from '../../../src/store/record-store';

interface Rec {
  id: string;
  state: string;
}

function store(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, s: new RecordStore<Rec>(dir, 'thing', silentLogger) };
}

t.test('create, update, delete persist and reload', async (t) => {
  const { dir, s } = store(t);
  s.load();
  s.create({ id: 'aaa111', state: 'created' });
  s.create({ id: 'bbb222', state: 'created' });
  t.throws(() => s.create({ id: 'aaa111', state: 'x' }), AlreadyExistsError);
  const before = s.get('aaa111')!;
  s.update('aaa111', (r) => ({ ...r, state: 'running' }));
  t.equal(before.state, 'created', 'an old reference never sees the change');
  t.throws(() => s.update('nope', (r) => r), NotFoundError);
  s.delete('bbb222');
  s.delete('bbb222'); // idempotent
  const again = new RecordStore<Rec>(dir, 'thing', silentLogger);
  t.equal(again.load(), 1);
  t.same(again.get('aaa111'), { id: 'aaa111', state: 'running' });
});

t.test('resolve by unique prefix; ambiguous and missing are errors', async (t) => {
  const { s } = store(t);
  s.load();
  s.create({ id: 'abc123', state: '' });
  s.create({ id: 'abd456', state: '' });
  t.equal(s.resolve('abc').id, 'abc123');
  t.throws(() => s.resolve('ab'), InvalidArgumentError);
  t.throws(() => s.resolve('zz'), NotFoundError);
  t.throws(() => s.resolve(''), InvalidArgumentError);
});

t.test('ids that could escape the directory are refused', async (t) => {
  const { s } = store(t);
  s.load();
  for (const id of ['../x', 'a/b', '.hidden', '']) t.throws(() => s.create({ id, state: '' }), InvalidArgumentError, id);
});

t.test('an unparseable record is moved aside, temp files are swept, start-up goes on', async (t) => {
  const { dir, s } = store(t);
  writeFileSync(join(dir, 'good.json'), JSON.stringify({ id: 'good', state: 'ok' }));
  writeFileSync(join(dir, 'bad.json'), '{"id": "bad", "sta');
  writeFileSync(join(dir, 'wrongname.json'), JSON.stringify({ id: 'other', state: 'ok' }));
  writeFileSync(join(dir, '.good.json.tmp-1234'), 'partial');
  t.equal(s.load(), 1);
  t.ok(s.get('good'));
  t.notOk(existsSync(join(dir, 'bad.json')));
  t.equal(readdirSync(join(dir, 'corrupt')).length, 2, 'both bad records kept for inspection');
  t.notOk(existsSync(join(dir, '.good.json.tmp-1234')), 'temp file swept');
});
