// The launcher binds QMP and the agent socket only in a run dir of its own
// (launch.ts, checkPrivateRunDir): whoever reaches them controls the VM.

import t from 'tap';
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError } from '../../../../common/errors';
import { checkPrivateRunDir } from '../../../../src/hypervisor/qemu/launch';

const cases: { desc: string; make: (runDir: string, other: string) => void; refused: boolean }[] = [
  { desc: 'our dir, 0700', make: (d) => mkdirSync(d, { mode: 0o700 }), refused: false },
  { desc: 'our dir, 0755: tightened', make: (d) => mkdirSync(d, { mode: 0o755 }), refused: false },
  { desc: 'a symlink to a dir of ours', make: (d, other) => symlinkSync(other, d), refused: true },
  { desc: "another user's dir", make: (d) => (mkdirSync(d, { mode: 0o700 }), chownSync(d, 65534, 65534)), refused: true },
  { desc: 'a file', make: (d) => writeFileSync(d, ''), refused: true },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-private-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const runDir = join(dir, 'run');
    const other = join(dir, 'other');
    mkdirSync(other, { mode: 0o755 });
    c.make(runDir, other);
    if (c.refused) {
      t.throws(() => checkPrivateRunDir({ id: 'p', runDir }), FailedPreconditionError, 'refused');
      t.equal(statSync(other).mode & 0o777, 0o755, 'the target is left as it was');
    } else {
      checkPrivateRunDir({ id: 'p', runDir });
      t.equal(statSync(runDir).mode & 0o777, 0o700, 'run dir is 0700');
    }
  });
}
