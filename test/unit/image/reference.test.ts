import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { apiHost, formatReference, parseReference } from '../../../src/image/reference';

const D = `sha256:${'a'.repeat(64)}`;

t.test('normalisation as Docker and containerd do it', async (t) => {
  const cases: { desc: string; in: string; out: string }[] = [
    { desc: 'short name gets docker.io/library and :latest', in: 'busybox', out: 'docker.io/library/busybox:latest' },
    { desc: 'user repo on Docker Hub', in: 'user/app:1.0', out: 'docker.io/user/app:1.0' },
    { desc: 'index.docker.io is docker.io', in: 'index.docker.io/library/busybox', out: 'docker.io/library/busybox:latest' },
    { desc: 'host with port', in: '127.0.0.1:5000/repo:tag', out: '127.0.0.1:5000/repo:tag' },
    { desc: 'localhost is a host', in: 'localhost/app', out: 'localhost/app:latest' },
    { desc: 'dotted host, nested path', in: 'registry.k8s.io/a/b/pause:3.9', out: 'registry.k8s.io/a/b/pause:3.9' },
    { desc: 'digest only: no tag added', in: `busybox@${D}`, out: `docker.io/library/busybox@${D}` },
    { desc: 'tag and digest', in: `quay.io/x/y:1@${D}`, out: `quay.io/x/y:1@${D}` },
    { desc: 'separators in path', in: 'a.b/c_d/e__f/g-h--i:t', out: 'a.b/c_d/e__f/g-h--i:t' },
  ];
  for (const c of cases) t.equal(formatReference(parseReference(c.in)), c.out, c.desc);
});

t.test('invalid references name the problem', async (t) => {
  const cases: { desc: string; in: string; msg: RegExp }[] = [
    { desc: 'empty', in: '', msg: /is empty/ },
    { desc: 'upper-case repository', in: 'docker.io/Library/busybox', msg: /lower-case/ },
    { desc: 'bad digest', in: 'busybox@sha256:abc', msg: /64 lower-case hex/ },
    { desc: 'other digest algorithm', in: `busybox@sha512:${'a'.repeat(128)}`, msg: /only sha256/ },
    { desc: 'bad tag', in: 'busybox:-x', msg: /tag/ },
    { desc: 'empty path component', in: 'host.io//x', msg: /path component/ },
    { desc: 'white space', in: ' busybox', msg: /white space/ },
    { desc: 'too long', in: `host.io/${'a'.repeat(260)}`, msg: /longer than 255/ },
  ];
  for (const c of cases) t.throws(() => parseReference(c.in), { constructor: InvalidArgumentError, field: 'image.image', message: c.msg }, c.desc);
});

t.test('Docker Hub API host', async (t) => {
  t.equal(apiHost('docker.io'), 'registry-1.docker.io');
  t.equal(apiHost('quay.io'), 'quay.io');
});
