import t from 'tap';
import { status } from '@grpc/grpc-js';
import { describeError } from '../../../../bench/lib/grpc-error';

const cases: Array<{ desc: string; err: unknown; want: string }> = [
  {
    desc: 'gRPC error: status name and details',
    err: Object.assign(new Error('12 UNIMPLEMENTED: x'), { code: status.UNIMPLEMENTED, details: 'RunPodSandbox is not implemented by vmpod yet' }),
    want: 'UNIMPLEMENTED: RunPodSandbox is not implemented by vmpod yet',
  },
  { desc: 'gRPC error without details falls back to the message', err: Object.assign(new Error('deadline'), { code: status.DEADLINE_EXCEEDED, details: '' }), want: 'DEADLINE_EXCEEDED: deadline' },
  { desc: 'plain error: first line only', err: new Error('containerd exited (1):\nlog line'), want: 'containerd exited (1):' },
  { desc: 'a code that is not a gRPC status is not named', err: Object.assign(new Error('ENOENT: x'), { code: 'ENOENT' }), want: 'ENOENT: x' },
  { desc: 'a thrown string', err: 'boom', want: 'boom' },
];
for (const c of cases) t.test(c.desc, async (t) => t.equal(describeError(c.err), c.want));
