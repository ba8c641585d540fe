import { PassThrough } from 'node:stream';
import t from 'tap';
import { quietOnClosedOutput } from '../../../src/cli/closed-output';

const errno = (code: string) => Object.assign(new Error(`write ${code}`), { code });

t.test('only EPIPE is swallowed', async (t) => {
  const cases: Array<{ desc: string; err: Error; throws: boolean }> = [
    { desc: 'EPIPE: the reader went away', err: errno('EPIPE'), throws: false },
    { desc: 'EIO is not understood and stays loud', err: errno('EIO'), throws: true },
    { desc: 'an error without a code stays loud', err: new Error('odd'), throws: true },
  ];
  for (const c of cases) {
    const out = new PassThrough();
    quietOnClosedOutput([out]);
    if (c.throws) t.throws(() => out.emit('error', c.err), c.err, c.desc);
    else t.doesNotThrow(() => out.emit('error', c.err), c.desc);
  }
});
