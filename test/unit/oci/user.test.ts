import t from 'tap';
import { checkUserRequest, resolveUser, supplementalGroupsPolicy } from '../../../src/oci/user';
import { InvalidArgumentError } from '../../../common/errors';
import type { LinuxContainerSecurityContext__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';

const passwd = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const group = 'root:x:0:\nwww:x:33:\nusers:x:100:alice,bob\nvideo:x:44:alice\nalice:x:1000:\n';

function sc(p: Partial<LinuxContainerSecurityContext__Output>): LinuxContainerSecurityContext__Output {
  return { run_as_user: null, run_as_username: '', run_as_group: null, supplemental_groups: [], ...p } as LinuxContainerSecurityContext__Output;
}

t.test('user resolution', async (t) => {
  const cases: { desc: string; sc: LinuxContainerSecurityContext__Output | null; image: string; want: object }[] = [
    { desc: 'image without User is root', sc: null, image: '', want: { uid: 0, gid: 0, additionalGids: [0] } },
    { desc: 'image User name', sc: null, image: 'alice', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
    { desc: 'image User uid:group name', sc: null, image: '33:users', want: { uid: 33, gid: 100, additionalGids: [100] } },
    { desc: 'image numeric uid not in passwd', sc: null, image: '4242', want: { uid: 4242, gid: 0, additionalGids: [0] } },
    { desc: 'run_as_user overrides image', sc: sc({ run_as_user: { value: '33' } }), image: 'alice', want: { uid: 33, gid: 33, additionalGids: [33] } },
    { desc: 'run_as_username', sc: sc({ run_as_username: 'alice' }), image: '', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
    {
      desc: 'run_as_group and supplemental groups',
      sc: sc({ run_as_user: { value: '1000' }, run_as_group: { value: '5' }, supplemental_groups: ['7', '8'] }),
      image: '',
      want: { uid: 1000, gid: 5, additionalGids: [5, 100, 44, 7, 8] },
    },
  ];
  for (const c of cases) t.same(resolveUser(c.sc, c.image, passwd, group), c.want, c.desc);
});

t.test('unknown names are invalid arguments naming the field', async (t) => {
  t.throws(() => resolveUser(null, 'nobody', passwd, group), { constructor: InvalidArgumentError, field: 'image.config.User', message: /nobody/ });
  t.throws(() => resolveUser(sc({ run_as_username: 'zed' }), '', passwd, group), { field: 'linux.security_context.run_as_username', message: /zed/ });
  t.throws(() => resolveUser(null, '0:nogroup', passwd, group), /nogroup/);
  t.throws(() => resolveUser(null, 'alice', '', ''), /not in the image's \/etc\/passwd/, 'no passwd file');
});

// Regression (critest "should return error if RunAsGroup is set without RunAsUser"):
// vmpod ran the image's user with the requested group instead of refusing.
t.test('run_as_group without a user is refused, as containerd refuses it', async (t) => {
  const cases = [
    { desc: 'group alone', sc: sc({ run_as_group: { value: '5' } }), refused: true },
    { desc: 'group with run_as_user', sc: sc({ run_as_user: { value: '0' }, run_as_group: { value: '5' } }), refused: false },
    { desc: 'group with run_as_username', sc: sc({ run_as_username: 'alice', run_as_group: { value: '5' } }), refused: false },
    { desc: 'no group', sc: sc({}), refused: false },
  ];
  for (const c of cases) {
    if (c.refused) {
      t.throws(() => checkUserRequest(c.sc), { constructor: InvalidArgumentError, field: 'config.linux.security_context.run_as_group', message: /without run_as_user/ }, `${c.desc}: refused`);
      t.throws(() => resolveUser(c.sc, 'alice', passwd, group), InvalidArgumentError, `${c.desc}: also when the spec is generated`);
    } else {
      t.doesNotThrow(() => checkUserRequest(c.sc), `${c.desc}: accepted`);
    }
  }
});

// SupplementalGroupsPolicy (KEP-3619), as containerd 2.x applies it. The image's
// /etc/group lists alice in `users` (100) and `video` (44); the pod asks for 7
// and 8 (kubelet adds the pod's fsGroup to supplemental_groups, so 8 stands for it).
t.test("supplemental groups policy: Merge adds the image's memberships, Strict only what was asked", async (t) => {
  const ask = { run_as_user: { value: '1000' }, run_as_group: { value: '5' }, supplemental_groups: ['7', '8'] };
  const cases: { desc: string; sc: LinuxContainerSecurityContext__Output | null; image: string; want: object }[] = [
    { desc: 'unset policy is Merge', sc: sc(ask), image: '', want: { uid: 1000, gid: 5, additionalGids: [5, 100, 44, 7, 8] } },
    { desc: 'Merge', sc: sc({ ...ask, supplemental_groups_policy: 'Merge' }), image: '', want: { uid: 1000, gid: 5, additionalGids: [5, 100, 44, 7, 8] } },
    { desc: 'Strict', sc: sc({ ...ask, supplemental_groups_policy: 'Strict' }), image: '', want: { uid: 1000, gid: 5, additionalGids: [5, 7, 8] } },
    // Without run_as_group the primary gid still comes from the image's /etc/passwd (as in containerd): only /etc/group is ignored.
    {
      desc: 'Strict by username keeps the passwd primary group',
      sc: sc({ run_as_username: 'alice', supplemental_groups_policy: 'Strict' }),
      image: '',
      want: { uid: 1000, gid: 1000, additionalGids: [1000] },
    },
    { desc: 'Merge by username', sc: sc({ run_as_username: 'alice', supplemental_groups_policy: 'Merge' }), image: '', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
    // The image's own User is the one looked up when the pod names none.
    { desc: 'Strict with the image User', sc: sc({ supplemental_groups: ['9'], supplemental_groups_policy: 'Strict' }), image: 'alice', want: { uid: 1000, gid: 1000, additionalGids: [1000, 9] } },
    { desc: 'Merge with the image User', sc: sc({ supplemental_groups: ['9'] }), image: 'alice', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44, 9] } },
    // A requested group equal to the primary one or to an image group is listed once.
    { desc: 'duplicates listed once', sc: sc({ run_as_username: 'alice', supplemental_groups: ['1000', '44'] }), image: '', want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44] } },
  ];
  for (const c of cases) t.same(resolveUser(c.sc, c.image, passwd, group), c.want, c.desc);
});

t.test('supplemental groups policy values', async (t) => {
  t.equal(supplementalGroupsPolicy(null), 'Merge', 'no security context');
  t.equal(supplementalGroupsPolicy(sc({})), 'Merge', 'field absent');
  t.equal(supplementalGroupsPolicy(sc({ supplemental_groups_policy: 'Strict' })), 'Strict');
  // protobufjs keeps an enum number it has no name for as the number.
  const unknown = sc({ supplemental_groups_policy: 7 as unknown as 'Merge' });
  const refusal = { constructor: InvalidArgumentError, field: 'config.linux.security_context.supplemental_groups_policy', message: /unknown supplemental groups policy 7/ };
  t.throws(() => supplementalGroupsPolicy(unknown), refusal, 'unknown value refused');
  t.throws(() => checkUserRequest(unknown), refusal, 'refused before any work is done');
  t.throws(() => resolveUser(unknown, 'alice', passwd, group), refusal, 'and when the spec is generated');
});
