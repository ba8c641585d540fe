import t from 'tap';
import { prepareSpec, sharePath } from '../../../agent/src/spec';
import { InvalidArgumentError } from '../../../common/errors';

t.test('sharePath keeps paths inside the share', async (t) => {
  const cases = [
    { desc: 'plain', rel: 'c1/rootfs', ok: '/run/vmpod/shared/c1/rootfs' },
    { desc: 'dot segments normalised', rel: 'c1/./rootfs', ok: '/run/vmpod/shared/c1/rootfs' },
    { desc: 'absolute', rel: '/etc', ok: undefined },
    { desc: 'parent escape', rel: 'c1/../../etc', ok: undefined },
    { desc: 'empty', rel: '', ok: undefined },
  ];
  for (const c of cases) {
    if (c.ok) t.equal(sharePath('/run/vmpod/shared', c.rel, 'f'), c.ok, c.desc);
    else t.throws(() => sharePath('/run/vmpod/shared', c.rel, 'f'), InvalidArgumentError, c.desc);
  }
});

t.test('prepareSpec rewrites root, mounts, namespaces, cgroup', async (t) => {
  const spec = prepareSpec(
    Buffer.from(JSON.stringify({ process: { args: ['sh'] }, mounts: [{ destination: '/proc', type: 'proc' }], linux: { namespaces: [{ type: 'network', path: '/x' }, { type: 'pid' }] } })),
    {
      containerId: 'c1',
      shareDir: '/s',
      rootfsPath: 'c1/rootfs',
      mounts: [{ source: 'vol/data', destination: '/data', options: [] }],
      cgroupParent: 'vmpod',
    },
  );
  t.equal(spec.root?.path, '/s/c1/rootfs', 'root');
  t.same(spec.mounts?.[1], { destination: '/data', type: 'bind', source: '/s/vol/data', options: ['rbind', 'rw'] }, 'bind mount from the share');
  t.same(spec.linux?.namespaces, [{ type: 'pid' }], 'network namespace dropped');
  t.equal(spec.linux?.cgroupsPath, '/vmpod/c1', 'cgroup');
  const bad = [
    { desc: 'not JSON', json: '{' },
    { desc: 'no args', json: '{"process":{"args":[]}}' },
    { desc: 'array', json: '[]' },
  ];
  for (const b of bad) {
    t.throws(() => prepareSpec(Buffer.from(b.json), { containerId: 'c', shareDir: '/s', rootfsPath: 'r', mounts: [], cgroupParent: 'v' }), InvalidArgumentError, b.desc);
  }
});
