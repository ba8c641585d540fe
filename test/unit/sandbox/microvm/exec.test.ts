// ExecSync in a VM pod against a made-up agent that writes 20 MiB on each
// stream: the answer fits one gRPC message (it used to be 16 + 16 MiB, which
// gRPC refused), and what the agent itself dropped counts in the marker.

import t from 'tap';
import type { AgentClient } from '../../../../src/agent-client';
import { EXEC_RESPONSE_BUDGET } from '../../../../src/sandbox/exec-output';
import { execInGuest } from '../../../../src/sandbox/microvm/exec';
import type { PodVm } from '../../../../src/sandbox/microvm/pod-vm';

const MiB = 1024 * 1024;

function floodingPod(bytesPerStream: number, agentDropped: number): PodVm {
  const left = { stdout: bytesPerStream, stderr: bytesPerStream };
  const read = (stream: 'stdout' | 'stderr') => async (req: { max_bytes: number }) => {
    const n = Math.min(req.max_bytes, left[stream]);
    left[stream] -= n;
    return { data: Buffer.alloc(n, stream === 'stdout' ? 'o' : 'e'), eof: left[stream] === 0, dropped_bytes: stream === 'stderr' ? agentDropped : 0 };
  };
  const agent = {
    call: async () => ({}),
    readStdout: read('stdout'),
    readStderr: read('stderr'),
    waitProcess: async () => ({ exited: true, exit_code: 0 }),
  } as unknown as AgentClient;
  return { id: 'pod1', agent, alive: true, detached: false } as unknown as PodVm;
}

t.test('20 MiB on each stream: the answer fits, both cut and marked', async (t) => {
  const r = await execInGuest(floodingPod(20 * MiB, 4096), 'c1', { args: ['flood'], cwd: '/', env: [] } as never, 10);
  t.ok(r.stdout.length + r.stderr.length <= EXEC_RESPONSE_BUDGET, `${r.stdout.length} + ${r.stderr.length} bytes within ${EXEC_RESPONSE_BUDGET}`);
  const dropped = (b: Buffer) => Number(/output truncated, (\d+) bytes dropped\]\n$/.exec(b.subarray(-80).toString())?.[1]);
  t.equal(r.stdout.indexOf('\n[vmpod') + dropped(r.stdout), 20 * MiB, 'stdout: kept + dropped = what it wrote');
  t.equal(r.stderr.indexOf('\n[vmpod') + dropped(r.stderr), 20 * MiB + 4096, 'stderr: kept + dropped = what it wrote and what the agent lost');
  t.equal(r.exitCode, 0, 'exit code');
});
