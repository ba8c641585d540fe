import t from 'tap';
import { podHostname, hostnameProblem } from '../../../src/oci/hostname';
import { InvalidArgumentError } from '../../../common/errors';

// Regression: critest's pods have no hostname and names longer than 64
// bytes; vmpod used the pod name, and every RunPodSandbox failed in runc's
// sethostname with EINVAL, reported as INTERNAL.
t.test("no hostname in the config: the node's, never the pod name", async (t) => {
  t.equal(podHostname('', 'node-1'), 'node-1');
});

t.test('a requested hostname is kept when the kernel can take it', async (t) => {
  const cases = [
    { desc: 'a DNS-1123 label', name: 'web-0' },
    { desc: '63-byte label', name: 'a'.repeat(63) },
    { desc: 'FQDN of 64 bytes (setHostnameAsFQDN)', name: `${'a'.repeat(31)}.${'b'.repeat(32)}` },
    { desc: 'upper case, as node hostnames may be', name: 'Node-A' },
  ];
  for (const c of cases) t.equal(podHostname(c.name, 'node'), c.name, c.desc);
});

t.test('hostnames the kernel or a resolver cannot take are INVALID_ARGUMENT naming the field', async (t) => {
  const cases = [
    { desc: '65 bytes', name: `${'a'.repeat(32)}.${'b'.repeat(32)}`, why: /65 bytes, more than the 64/ },
    { desc: 'label of 64', name: 'a'.repeat(64), why: /64 bytes|not a valid hostname/ },
    { desc: 'newline', name: 'web\nevil', why: /not a valid hostname/ },
    { desc: 'leading dash', name: '-web', why: /not a valid hostname/ },
    { desc: 'empty label', name: 'a..b', why: /not a valid hostname/ },
    { desc: 'space', name: 'a b', why: /not a valid hostname/ },
    { desc: 'underscore', name: 'a_b', why: /not a valid hostname/ },
  ];
  for (const c of cases) {
    t.match(hostnameProblem(c.name), c.why, `${c.desc}: problem`);
    t.throws(() => podHostname(c.name, 'node'), { constructor: InvalidArgumentError, message: /^config\.hostname: / }, `${c.desc}: refused`);
  }
});
