import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { idMapText, MAX_ID_MAPPINGS, podUserns } from '../../../src/oci/userns';

type M = { container_id: number; host_id: number; length: number };
const K8S: M[] = [{ container_id: 0, host_id: 65536 * 3, length: 65536 }];

const config = (userns: unknown): PodSandboxConfig__Output => ({ linux: { security_context: { namespace_options: { userns_options: userns } } } }) as unknown as PodSandboxConfig__Output;
const pod = (uids: M[], gids: M[] = K8S, mode = 'POD') => config({ mode, uids, gids });

const refusal = (c: PodSandboxConfig__Output): string => {
  try {
    podUserns(c);
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.message;
    throw err;
  }
  return 'accepted';
};

t.test('host users: no userns_options, or mode NODE', async (t) => {
  t.equal(podUserns({ linux: null } as unknown as PodSandboxConfig__Output), null, 'no linux config');
  t.equal(podUserns(config(null)), null, 'unset (older kubelets)');
  t.equal(podUserns(config({ mode: 'NODE', uids: [], gids: [] })), null, 'NODE');
  t.match(refusal(config({ mode: 'NODE', uids: K8S, gids: [] })), /userns_options\.mode.*NODE.*mappings were given/, 'NODE with mappings is a confused request');
});

t.test("kubelet's mapping is accepted as it is", async (t) => {
  t.same(podUserns(pod(K8S)), { uidMappings: [{ containerID: 0, hostID: 196608, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 196608, size: 65536 }] });
  const two: M[] = [
    { container_id: 0, host_id: 100000, length: 1000 },
    { container_id: 1000, host_id: 300000, length: 1000 },
  ];
  t.equal(podUserns(pod(two))?.uidMappings.length, 2, 'several disjoint ranges');
  t.equal(idMapText(podUserns(pod(two))!.uidMappings), '0 100000 1000\n1000 300000 1000\n', 'uid_map text, one line per range');
});

t.test('each refusal names the field', async (t) => {
  t.match(refusal(pod([])), /userns_options\.uids.*empty/, 'no uid mapping');
  t.match(refusal(pod(K8S, [])), /userns_options\.gids.*empty/, 'no gid mapping');
  t.match(refusal(config({ mode: 'CONTAINER', uids: K8S, gids: K8S })), /userns_options\.mode.*CONTAINER is not supported/, 'per-container mode');
  t.match(refusal(config({ mode: 'TARGET', uids: K8S, gids: K8S })), /userns_options\.mode/, 'target mode');
  t.match(refusal(pod([{ container_id: 0, host_id: 0, length: 65536 }])), /uids\[0\]\.host_id.*host id 0/, 'reaching host root');
  t.match(refusal(pod([{ container_id: 0, host_id: 100000, length: 0 }])), /uids\[0\]\.length.*is 0/, 'empty range');
  t.match(refusal(pod([{ container_id: 0, host_id: 2 ** 32 - 10, length: 65536 }])), /uids\[0\].*host ids.*run past/, 'host range overflowing 32 bits');
  t.match(refusal(pod([{ container_id: 2 ** 32 - 10, host_id: 100000, length: 65536 }])), /uids\[0\].*container ids.*run past/, 'container range overflowing');
  t.match(refusal(pod([{ container_id: -1, host_id: 100000, length: 1 }])), /uids\[0\]\.container_id.*not a 32-bit id/, 'negative id');
  t.match(refusal(pod([{ container_id: 0.5, host_id: 100000, length: 1 }])), /container_id/, 'fractional id');
  const overlapHost: M[] = [
    { container_id: 0, host_id: 100000, length: 1000 },
    { container_id: 5000, host_id: 100500, length: 1000 },
  ];
  t.match(refusal(pod(overlapHost)), /uids\[1\].*host ids overlap those of .*uids\[0\]/, 'overlapping host ranges');
  const overlapCtr: M[] = [
    { container_id: 0, host_id: 100000, length: 1000 },
    { container_id: 999, host_id: 300000, length: 1000 },
  ];
  t.match(refusal(pod(overlapCtr)), /uids\[1\].*container ids overlap/, 'overlapping container ranges');
  t.match(refusal(pod([{ container_id: 1, host_id: 100000, length: 1000 }])), /uids.*does not map container id 0/, 'no root inside');
  const many: M[] = Array.from({ length: MAX_ID_MAPPINGS + 1 }, (_, i) => ({ container_id: i, host_id: 100000 + i, length: 1 }));
  t.match(refusal(pod(many)), new RegExp(`uids.*${MAX_ID_MAPPINGS + 1} mappings.*at most ${MAX_ID_MAPPINGS}`), 'more lines than the kernel takes');
});
