// VM pods get the supplemental groups policy without any change in the guest:
// the host resolves process.user from the image's /etc/passwd and /etc/group
// (read from the rootfs on the host, as for runc pods), guestSpec passes it
// through unchanged, and the agent hands the spec to runc in the guest as is.
// The record's user (ContainerStatus.user) is taken from this same spec.
import t from 'tap';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerSecurityContext__Output } from '../../../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';
import { containerSpec } from '../../../../src/oci/container-spec';
import { guestHostFacts, guestPodContext, guestSpec } from '../../../../src/sandbox/microvm/guest-spec';
import { podPaths, sharePath } from '../../../../src/sandbox/microvm/layout';

const paths = podPaths('/run/vmpod', 'pod1');
const podFile = (n: 'hosts' | 'resolv.conf' | 'hostname'): string => `${paths.shared}/${sharePath.podFile(n)}`;
const passwd = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
// The image lists alice in two groups besides her own.
const group = 'root:x:0:\nusers:x:100:alice\nvideo:x:44:alice,bob\nalice:x:1000:\n';

function cfg(sc: Partial<LinuxContainerSecurityContext__Output>): ContainerConfig__Output {
  return {
    metadata: { name: 'c', attempt: 0 },
    image: null,
    command: ['/bin/sh'],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: 'c.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: {
      security_context: {
        namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null },
        masked_paths: [],
        readonly_paths: [],
        supplemental_groups: [],
        capabilities: null,
        privileged: false,
        run_as_username: '',
        readonly_rootfs: false,
        seccomp: null,
        seccomp_profile_path: '',
        apparmor_profile: '',
        apparmor: null,
        selinux_options: null,
        run_as_user: null,
        run_as_group: null,
        no_new_privs: false,
        supplemental_groups_policy: 'Merge',
        ...sc,
      },
      resources: null,
    },
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
  } as unknown as ContainerConfig__Output;
}

function guestUser(config: ContainerConfig__Output) {
  const pod = guestPodContext('pod1', 'web', { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, { hosts: podFile('hosts'), resolvConf: podFile('resolv.conf'), hostname: podFile('hostname') });
  const facts = guestHostFacts({ pathExists: () => false, readFile: () => '' });
  const host = containerSpec({ containerId: 'ctr1', config, image: { User: 'alice' }, rootfs: '/host/rootfs/ignored', passwd, group, pod, targetPid: 0, host: facts }).spec;
  return guestSpec({ spec: host, sharedHostDir: paths.shared, rootfsRel: sharePath.rootfs('ctr1'), sharedMounts: new Map() }).spec.process.user;
}

t.test('the guest spec carries the user and groups the policy resolved on the host', async (t) => {
  const cases: { desc: string; sc: Partial<LinuxContainerSecurityContext__Output>; want: object }[] = [
    { desc: "Merge: the image's /etc/group memberships, then the requested groups", sc: { supplemental_groups: ['2000'] }, want: { uid: 1000, gid: 1000, additionalGids: [1000, 100, 44, 2000] } },
    {
      desc: 'Strict: only the primary and the requested groups',
      sc: { supplemental_groups: ['2000'], supplemental_groups_policy: 'Strict' },
      want: { uid: 1000, gid: 1000, additionalGids: [1000, 2000] },
    },
    {
      desc: 'Strict with run_as_user and run_as_group',
      sc: { run_as_user: { value: '1000' }, run_as_group: { value: '3000' }, supplemental_groups: ['4000'], supplemental_groups_policy: 'Strict' },
      want: { uid: 1000, gid: 3000, additionalGids: [3000, 4000] },
    },
  ];
  for (const c of cases) t.same(guestUser(cfg(c.sc)), c.want, c.desc);
});
