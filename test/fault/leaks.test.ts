// The harness's own checks can fail: a leak scan that finds nothing because
// it looks in the wrong place would make every fault-injection run pass.

import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseline, scanLeaks } from './leaks';
import { offsets } from './harness';

const ID = 'c'.repeat(64);

t.test('the leak scan reports what appeared under root and state since the baseline, once per leaked tree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-leaks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  mkdirSync(join(root, 'image', 'snapshots', 'd'.repeat(64)), { recursive: true });
  mkdirSync(join(state, 'netns'), { recursive: true });
  const before = baseline(root, state);
  t.same(scanLeaks({ dir, root, state, before }), [], 'nothing new: nothing reported (an image snapshot present before is not a leak)');

  mkdirSync(join(state, 'sandboxes', ID, 'infra'), { recursive: true });
  writeFileSync(join(root, `${ID}.json`), '{}');
  writeFileSync(join(state, 'netns', ID), '');
  mkdirSync(join(state, 'exits'), { recursive: true });
  mkdirSync(join(root, 'microvm'), { recursive: true });
  writeFileSync(join(root, 'microvm', 'vsock-cids.json'), JSON.stringify({ version: 1, owners: { 3: ID } }));
  t.same(
    scanLeaks({ dir, root, state, before }).sort(),
    [`path ${join(root, `${ID}.json`)}`, `path ${join(state, 'sandboxes', ID)}`, `pod netns pin ${join(state, 'netns', ID)}`, `vsock CID 3 reserved for ${ID}`].sort(),
    'a record, a pod directory (not each file in it), a netns pin and a CID; an empty shared directory made later is not a leak',
  );
});

t.test('offsets spread the kills evenly inside the call', async (t) => {
  t.same(offsets(100, 4), [12.5, 37.5, 62.5, 87.5], 'four kills into 100 ms');
  t.same(offsets(10, 1), [5], 'one kill lands mid-call');
});
