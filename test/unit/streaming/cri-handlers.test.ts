// The Exec, Attach and PortForward handlers (src/cri/runtime/exec.ts):
// validation first, then the domain's NOT_FOUND / FAILED_PRECONDITION, and
// a URL only for a request that passed both.

import t from 'tap';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../../common/errors';
import { streamingHandlers, type StreamingChecks } from '../../../src/cri/runtime/exec';
import type { StreamRequest } from '../../../src/streaming/requests';

function setup(state = 'SANDBOX_READY') {
  const issued: StreamRequest[] = [];
  const checks = {
    requireRunning: (id: string, what: string) => {
      if (id === 'gone') return Promise.reject(new NotFoundError('container', id));
      if (id === 'stopped') return Promise.reject(new FailedPreconditionError(`container ${id} is CONTAINER_EXITED; ${what}`));
      return Promise.resolve(`${id}-full`);
    },
    podStatus: (id: string) => (id === 'gone' ? Promise.reject(new NotFoundError('pod sandbox', id)) : Promise.resolve({ pod: { id: `${id}-full`, state }, containers: [] })),
  } as unknown as StreamingChecks;
  const h = streamingHandlers(checks, {
    issue: (r) => {
      issued.push(r);
      return `http://127.0.0.1:1/${r.kind}/tok`;
    },
  });
  const call = (m: string, req: unknown) => (h[m] as (r: unknown) => Promise<{ url: string }>)(req);
  return { call, issued };
}

const exec = { container_id: 'c', cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: true };

t.test('Exec: the URL carries the request; the full id is bound', async (t) => {
  const { call, issued } = setup();
  t.same(await call('Exec', exec), { url: 'http://127.0.0.1:1/exec/tok' });
  t.same(issued, [{ kind: 'exec', containerId: 'c-full', cmd: ['sh'], opts: { stdin: false, stdout: true, stderr: true, tty: false } }]);
});

const invalid = [
  { desc: 'no container_id', m: 'Exec', req: { ...exec, container_id: '' }, field: 'container_id' },
  { desc: 'no cmd', m: 'Exec', req: { ...exec, cmd: [] }, field: 'cmd' },
  { desc: 'no stream at all', m: 'Exec', req: { ...exec, stdout: false, stderr: false }, field: 'stdin/stdout/stderr' },
  { desc: 'tty with stderr', m: 'Exec', req: { ...exec, tty: true }, field: 'stderr' },
  { desc: 'attach tty with stderr', m: 'Attach', req: { container_id: 'c', stdin: true, stdout: true, stderr: true, tty: true }, field: 'stderr' },
  { desc: 'no pod_sandbox_id', m: 'PortForward', req: { pod_sandbox_id: '', port: [] }, field: 'pod_sandbox_id' },
  { desc: 'port 0', m: 'PortForward', req: { pod_sandbox_id: 'p', port: [0] }, field: 'port' },
  { desc: 'port 65536', m: 'PortForward', req: { pod_sandbox_id: 'p', port: [65536] }, field: 'port' },
];
for (const c of invalid) {
  t.test(`INVALID_ARGUMENT: ${c.desc}, before any look-up`, async (t) => {
    const { call, issued } = setup();
    const err = await call(c.m, { ...c.req, container_id: c.m === 'PortForward' ? undefined : c.req.container_id === '' ? '' : 'gone' }).catch((e: unknown) => e);
    t.type(err, InvalidArgumentError);
    t.equal((err as InvalidArgumentError).field, c.field);
    t.equal(issued.length, 0);
  });
}

t.test('NOT_FOUND and FAILED_PRECONDITION come from the domain, and no URL is issued', async (t) => {
  const { call, issued } = setup();
  await t.rejects(call('Exec', { ...exec, container_id: 'gone' }), NotFoundError);
  await t.rejects(call('Attach', { container_id: 'stopped', stdin: false, stdout: true, stderr: false, tty: false }), FailedPreconditionError);
  await t.rejects(call('PortForward', { pod_sandbox_id: 'gone', port: [] }), NotFoundError);
  t.equal(issued.length, 0);
});

t.test('PortForward: a pod that is not ready is FAILED_PRECONDITION; a ready one binds its ports', async (t) => {
  await t.rejects(setup('SANDBOX_NOTREADY').call('PortForward', { pod_sandbox_id: 'p', port: [80] }), FailedPreconditionError);
  const { call, issued } = setup();
  t.same(await call('PortForward', { pod_sandbox_id: 'p', port: [80, 443] }), { url: 'http://127.0.0.1:1/portforward/tok' });
  t.same(issued, [{ kind: 'portforward', podId: 'p-full', ports: [80, 443] }]);
});
