import t from 'tap';
import { containerSpec } from '../../../src/oci/container-spec';
import { sandboxSpec } from '../../../src/oci/sandbox-spec';
import { ALL_CAPABILITIES } from '../../../common/capabilities';
import { defaultSeccompProfile } from '../../../src/oci/seccomp';
import { hostsFile, resolvConf } from '../../../src/oci/pod-files';
import type { ContainerSpecInput, HostFacts, PodContext } from '../../../src/oci/input';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerSecurityContext__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';
import type { LinuxContainerResources__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerResources';
import { InvalidArgumentError } from '../../../common/errors';

const host = (over: Partial<HostFacts> = {}): HostFacts => ({
  capabilities: new Set(ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE')),
  oomScoreAdj: 0,
  cgroupVersion: 1,
  swapAccounting: false,
  pathExists: (p) => p.startsWith('/exists'),
  statDevice: (p) => (p === '/dev/fuse' ? { type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 } : null),
  hostDevices: () => [{ path: '/dev/kvm', type: 'c', major: 10, minor: 232 }],
  readFile: (p) => {
    if (p === '/profiles/ok.json') return JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
    if (p === '/profiles/bad.json') return '{';
    throw new Error('ENOENT');
  },
  ...over,
});

const pod: PodContext = {
  id: 'pod1',
  hostname: 'web',
  netnsPath: '/run/netns/pod1',
  infraPid: 4242,
  namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
  cgroupParent: '/kubepods/pod-uid',
  resolvConfPath: '/s/resolv.conf',
  hostsPath: '/s/hosts',
  hostnamePath: '/s/hostname',
  shmPath: '/s/shm',
};

function secCtx(p: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...p,
  };
}

function resources(p: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '0',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...p,
  };
}

function cfg(p: Partial<ContainerConfig__Output> = {}, sc?: Partial<LinuxContainerSecurityContext__Output>, res?: Partial<LinuxContainerResources__Output>): ContainerConfig__Output {
  return {
    metadata: { name: 'c', attempt: 0 },
    image: null,
    command: [],
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
    linux: { security_context: secCtx(sc), resources: resources(res) },
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...p,
  };
}

function input(config: ContainerConfig__Output, over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return { containerId: 'ctr1', config, image: { Cmd: ['/bin/sh'] }, rootfs: '/rootfs', passwd: '', group: '', pod, targetPid: 0, host: host(), ...over };
}

const nsOf = (spec: ReturnType<typeof containerSpec>['spec'], type: string) => spec.linux.namespaces.find((n) => n.type === type);
const mountAt = (spec: ReturnType<typeof containerSpec>['spec'], dest: string) => spec.mounts.find((m) => m.destination === dest);

t.test('basic container spec', async (t) => {
  const { spec, notes } = containerSpec(input(cfg()));
  t.same(spec.process.args, ['/bin/sh'], 'args from image Cmd');
  t.equal(spec.root.path, '/rootfs', 'rootfs');
  t.equal(spec.root.readonly, false, 'writable by default');
  t.equal(spec.linux.cgroupsPath, '/kubepods/pod-uid/ctr1', 'cgroupfs path under the pod parent');
  t.same(nsOf(spec, 'network'), { type: 'network', path: '/run/netns/pod1' }, 'joins pod netns');
  t.same(nsOf(spec, 'ipc'), { type: 'ipc', path: '/proc/4242/ns/ipc' }, 'joins infra IPC');
  t.same(nsOf(spec, 'uts'), { type: 'uts', path: '/proc/4242/ns/uts' }, 'joins infra UTS');
  t.same(nsOf(spec, 'pid'), { type: 'pid' }, 'own PID namespace by default');
  t.equal(mountAt(spec, '/etc/hosts')?.source, '/s/hosts', 'pod hosts file');
  t.equal(mountAt(spec, '/etc/resolv.conf')?.source, '/s/resolv.conf', 'pod resolv.conf');
  t.equal(mountAt(spec, '/dev/shm')?.source, '/s/shm', 'per-pod shm');
  t.ok(spec.linux.maskedPaths?.includes('/proc/kcore'), 'default masked paths');
  t.ok(spec.linux.readonlyPaths?.includes('/proc/sys'), 'default readonly paths');
  t.equal(spec.linux.seccomp, undefined, 'no seccomp profile requested → unconfined (CRI default)');
  t.same(notes, [], 'nothing changed silently');
  const depths = spec.mounts.map((m) => m.destination.split('/').filter(Boolean).length);
  t.same(
    depths,
    [...depths].sort((a, b) => a - b),
    'parents mounted before children',
  );
});

t.test('a container without namespace options follows the pod', async (t) => {
  const shared = { ...pod, namespaces: { network: 'POD', pid: 'POD', ipc: 'POD' } } as PodContext;
  const { spec } = containerSpec(input(cfg({}, { namespace_options: null }), { pod: shared }));
  t.same(nsOf(spec, 'pid'), { type: 'pid', path: '/proc/4242/ns/pid' }, 'joins the pod PID namespace');
});

t.test('namespace options', async (t) => {
  const cases: { desc: string; podNs: PodContext['namespaces']; pid: string; targetPid?: number; want: Record<string, object | undefined> }[] = [
    { desc: 'POD pid joins infra', podNs: { network: 'POD', pid: 'POD', ipc: 'POD' }, pid: 'POD', want: { pid: { type: 'pid', path: '/proc/4242/ns/pid' } } },
    { desc: 'NODE pid: no pid namespace', podNs: { network: 'POD', pid: 'NODE', ipc: 'POD' }, pid: 'NODE', want: { pid: undefined } },
    { desc: 'TARGET pid joins target', podNs: pod.namespaces, pid: 'TARGET', targetPid: 77, want: { pid: { type: 'pid', path: '/proc/77/ns/pid' } } },
    { desc: 'host network: no net/uts namespace', podNs: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' }, pid: 'CONTAINER', want: { network: undefined, uts: undefined } },
    { desc: 'host IPC: no ipc namespace', podNs: { network: 'POD', pid: 'CONTAINER', ipc: 'NODE' }, pid: 'CONTAINER', want: { ipc: undefined } },
  ];
  for (const c of cases) {
    const config = cfg({}, { namespace_options: { network: c.podNs.network, pid: c.pid as 'POD', ipc: c.podNs.ipc, target_id: 'x', userns_options: null } });
    const { spec } = containerSpec(input(config, { pod: { ...pod, namespaces: c.podNs }, targetPid: c.targetPid ?? 0 }));
    for (const [type, want] of Object.entries(c.want)) t.same(nsOf(spec, type), want, `${c.desc}: ${type}`);
  }
});

t.test('security context', async (t) => {
  const ro = containerSpec(input(cfg({}, { readonly_rootfs: true, no_new_privs: true }))).spec;
  t.equal(ro.root.readonly, true, 'readonly rootfs');
  t.equal(ro.process.noNewPrivileges, true, 'no_new_privs');
  t.ok(mountAt(ro, '/etc/hosts')?.options.includes('ro'), 'pod files readonly with a readonly rootfs');

  const priv = containerSpec(input(cfg({}, { privileged: true, seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }))).spec;
  t.ok(priv.process.capabilities.bounding.includes('CAP_SYS_ADMIN'), 'privileged: all caps');
  t.equal(priv.linux.maskedPaths, undefined, 'privileged: nothing masked');
  t.equal(priv.linux.seccomp, undefined, 'privileged: unconfined');
  t.same(
    priv.linux.devices?.map((d) => d.path),
    ['/dev/kvm'],
    'privileged: host devices',
  );
  t.same(priv.linux.resources?.devices, [{ allow: true, access: 'rwm' }], 'privileged: all devices allowed');
  t.ok(mountAt(priv, '/sys')?.options.includes('rw'), 'privileged: sysfs writable');

  const masked = containerSpec(input(cfg({}, { masked_paths: ['/m'], readonly_paths: ['/r'] }))).spec;
  t.same([masked.linux.maskedPaths, masked.linux.readonlyPaths], [['/m'], ['/r']], 'kubelet-supplied masked/readonly paths win');
});

t.test('seccomp', async (t) => {
  const rd = containerSpec(input(cfg({}, { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }))).spec.linux.seccomp;
  t.equal(rd?.defaultAction, 'SCMP_ACT_ERRNO', 'RuntimeDefault denies by default');
  t.equal(rd?.defaultErrnoRet, 1, 'with EPERM');
  const allowed = rd!.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names);
  t.ok(allowed.includes('read'), 'read allowed');
  t.notOk(allowed.includes('mount'), 'mount denied without CAP_SYS_ADMIN');
  t.notOk(allowed.includes('unshare'), 'unshare denied without CAP_SYS_ADMIN');
  t.ok(
    rd!.syscalls.some((s) => s.names.includes('clone3') && s.errnoRet === 38),
    'clone3 → ENOSYS',
  );
  const admin = defaultSeccompProfile(['CAP_SYS_ADMIN']).syscalls.flatMap((s) => s.names);
  t.ok(admin.includes('mount'), 'mount allowed with CAP_SYS_ADMIN');

  const legacy = containerSpec(input(cfg({}, { seccomp_profile_path: 'runtime/default' }))).spec.linux.seccomp;
  t.equal(legacy?.defaultAction, 'SCMP_ACT_ERRNO', 'deprecated runtime/default path');
  const unconf = containerSpec(input(cfg({}, { seccomp: { profile_type: 'Unconfined', localhost_ref: '' } }))).spec.linux.seccomp;
  t.equal(unconf, undefined, 'Unconfined');
  const local = containerSpec(input(cfg({}, { seccomp: { profile_type: 'Localhost', localhost_ref: '/profiles/ok.json' } }))).spec.linux.seccomp;
  t.equal(local?.defaultAction, 'SCMP_ACT_ALLOW', 'Localhost profile read from the host');
  t.throws(() => containerSpec(input(cfg({}, { seccomp: { profile_type: 'Localhost', localhost_ref: '/profiles/missing.json' } }))), InvalidArgumentError, 'missing Localhost profile');
  t.throws(() => containerSpec(input(cfg({}, { seccomp: { profile_type: 'Localhost', localhost_ref: '/profiles/bad.json' } }))), /not a valid profile/, 'bad Localhost profile');
});

t.test('mounts', async (t) => {
  const mounts = [
    { container_path: '/data', host_path: '/exists/data', readonly: true, propagation: 'PROPAGATION_PRIVATE' },
    { container_path: '/slave', host_path: '/exists/s', readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    { container_path: '/etc/hosts', host_path: '/exists/kubelet-hosts', readonly: false, propagation: 'PROPAGATION_PRIVATE' },
  ] as ContainerConfig__Output['mounts'];
  const { spec } = containerSpec(input(cfg({ mounts })));
  t.same(mountAt(spec, '/data')?.options, ['rbind', 'rprivate', 'ro'], 'readonly private bind');
  t.same(mountAt(spec, '/slave')?.options, ['rbind', 'rslave', 'rw'], 'host-to-container → rslave');
  t.equal(spec.linux.rootfsPropagation, 'rslave', 'rootfs propagation follows');
  t.equal(mountAt(spec, '/etc/hosts')?.source, '/exists/kubelet-hosts', 'CRI mount overrides the pod default');
  t.equal(spec.mounts.filter((m) => m.destination === '/etc/hosts').length, 1, 'only once');
  const missing = [{ container_path: '/x', host_path: '/nope', readonly: false, propagation: 'PROPAGATION_PRIVATE' }] as ContainerConfig__Output['mounts'];
  t.throws(() => containerSpec(input(cfg({ mounts: missing }))), { field: 'config.mounts[0].host_path', message: /does not exist on the host/ }, 'missing host path is a clear error');
});

t.test('devices', async (t) => {
  const { spec } = containerSpec(input(cfg({ devices: [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rw' }] })));
  t.same(spec.linux.devices?.[0], { type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0, path: '/dev/fuse' }, 'device node');
  t.ok(
    spec.linux.resources?.devices?.some((r) => r.allow && r.major === 10 && r.minor === 229 && r.access === 'rw'),
    'cgroup rule',
  );
  t.throws(() => containerSpec(input(cfg({ devices: [{ container_path: '/dev/x', host_path: '/dev/nothing', permissions: '' }] }))), /not a device node/);
});

t.test('resources and oom_score_adj', async (t) => {
  const res = {
    cpu_shares: '512',
    cpu_quota: '50000',
    cpu_period: '100000',
    cpuset_cpus: '0',
    memory_limit_in_bytes: '67108864',
    hugepage_limits: [{ page_size: '2MB', limit: '0' }],
    oom_score_adj: '-999',
  };
  const { spec, notes } = containerSpec(input(cfg({}, {}, res)));
  t.same(spec.linux.resources?.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0' }, 'cpu');
  t.same(spec.linux.resources?.memory, { limit: 67108864 }, 'memory limit; no swap without v1 swap accounting');
  t.same(spec.linux.resources?.hugepageLimits, [{ pageSize: '2MB', limit: 0 }], 'hugepages');
  t.equal(spec.process.oomScoreAdj, 0, "oom_score_adj raised to the daemon's");
  t.match(notes, [{ message: /oom_score_adj/, detail: { requested: -999, applied: 0 } }], 'and noted');
  const v2 = containerSpec(input(cfg({}, {}, { memory_limit_in_bytes: '1000', unified: { 'memory.high': '900' } }), { host: host({ cgroupVersion: 2 }) })).spec;
  t.same(v2.linux.resources?.memory, { limit: 1000, swap: 1000 }, 'v2: swap = limit (no swap)');
  t.same(v2.linux.resources?.unified, { 'memory.high': '900' }, 'v2: unified passed');
  t.ok(
    v2.linux.namespaces.some((n) => n.type === 'cgroup'),
    'v2: cgroup namespace',
  );
  const high = containerSpec(input(cfg({}, {}, { oom_score_adj: '1000' }))).spec;
  t.equal(high.process.oomScoreAdj, 1000, 'higher values kept');
});

t.test('user and tty', async (t) => {
  const { spec } = containerSpec(input(cfg({ tty: true }, { run_as_user: { value: '1000' } }), { passwd: 'u:x:1000:1000::/:/bin/sh\n' }));
  t.same(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [1000] }, 'run_as_user with passwd group');
  t.equal(spec.process.terminal, true, 'tty');
  t.ok(spec.process.env.includes('TERM=xterm'), 'TERM for tty');
});

t.test('sandbox (infra) spec', async (t) => {
  const base = { podId: 'pod1', hostname: 'web', infraRootfs: '/infra', netnsPath: '/run/netns/pod1', cgroupParent: '', sysctls: { 'net.ipv4.ip_forward': '1' }, host: host() };
  const { spec, notes } = sandboxSpec({ ...base, namespaces: { network: 'POD', pid: 'POD', ipc: 'POD' } });
  t.same(spec.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts'], 'holds net (joined), ipc, uts, pid');
  t.equal(spec.hostname, 'web', 'hostname set');
  t.same(spec.linux.sysctl, { 'net.ipv4.ip_forward': '1' }, 'sysctls');
  t.equal(spec.linux.cgroupsPath, '/vmpod/pod1/pod1', 'default cgroup parent when kubelet gives none');
  t.equal(spec.process.oomScoreAdj, 0, "pause-like -998 clamped to the daemon's 0");
  t.equal(notes.length, 1, 'clamp noted');
  t.equal(spec.root.readonly, true, 'readonly rootfs');
  const hostNs = sandboxSpec({ ...base, namespaces: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } }).spec;
  t.same(
    hostNs.linux.namespaces.map((n) => n.type),
    ['mount'],
    'host namespaces: only a mount namespace',
  );
  t.equal(hostNs.hostname, undefined, "host network keeps the host's hostname");
});

t.test('pod files', async (t) => {
  t.equal(resolvConf({ servers: ['10.0.0.10'], searches: ['ns.svc.cluster.local'], options: ['ndots:5'] }), 'search ns.svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n', 'resolv.conf');
  t.equal(resolvConf(null), null, 'no DNSConfig → host copy');
  t.match(hostsFile('web', ['10.1.0.5']), /10\.1\.0\.5\tweb\n$/, 'hosts names the pod IP');
});

t.test('a pod with a user namespace: the infra joins its pin first, containers join the infra; binds are idmapped', async (t) => {
  const userns = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] };
  const infra = sandboxSpec({
    podId: 'pod1',
    hostname: 'web',
    infraRootfs: '/infra',
    netnsPath: '/run/netns/pod1',
    cgroupParent: '',
    sysctls: {},
    host: host(),
    namespaces: { network: 'POD', pid: 'POD', ipc: 'POD' },
    userns: { ...userns, path: '/pins/.userns/pod1' },
  }).spec;
  t.same(infra.linux.namespaces[0], { type: 'user', path: '/pins/.userns/pod1' }, 'infra: user namespace first, by its pin');
  t.same(infra.linux.uidMappings, userns.uidMappings, 'infra: uid mappings (runc 1.1 wants them when joining)');
  t.same(infra.linux.gidMappings, userns.gidMappings, 'infra: gid mappings');

  const mounts = [
    {
      container_path: '/data',
      host_path: '/exists/data',
      readonly: false,
      selinux_relabel: false,
      propagation: 'PROPAGATION_PRIVATE',
      uidMappings: [],
      gidMappings: [],
      recursive_read_only: false,
      image: null,
      image_sub_path: '',
    },
  ] as never[];
  const { spec } = containerSpec(input(cfg({ mounts: [...mounts] }), { pod: { ...pod, userns } }));
  t.same(spec.linux.namespaces[0], { type: 'user', path: '/proc/4242/ns/user' }, "container: the infra's user namespace, first");
  t.same(spec.linux.uidMappings, userns.uidMappings, 'container: uid mappings');
  t.ok(mountAt(spec, '/data')?.options.includes('ridmap'), 'the CRI bind is marked to be idmapped');
  t.ok(mountAt(spec, '/etc/hosts')?.options.includes('ridmap'), "so are the pod's own files");

  const plain = containerSpec(input(cfg({ mounts: [...mounts] }))).spec;
  t.equal(
    plain.linux.namespaces.find((n) => n.type === 'user'),
    undefined,
    'without one: no user namespace',
  );
  t.equal(plain.linux.uidMappings, undefined, 'and no mappings');
  t.notOk(mountAt(plain, '/data')?.options.includes('ridmap'), 'and no idmapped binds');

  t.throws(() => containerSpec(input(cfg({}, { privileged: true }), { pod: { ...pod, userns } })), InvalidArgumentError, 'a privileged container is refused in a user-namespace pod');
});

t.test('recursive_read_only: marked rro on a read-only private bind, refused otherwise', async (t) => {
  const m = (over: Record<string, unknown>) =>
    ({
      container_path: '/ro',
      host_path: '/exists/ro',
      readonly: true,
      selinux_relabel: false,
      propagation: 'PROPAGATION_PRIVATE',
      uidMappings: [],
      gidMappings: [],
      recursive_read_only: true,
      image: null,
      image_sub_path: '',
      ...over,
    }) as never;
  const { spec } = containerSpec(input(cfg({ mounts: [m({})] })));
  t.same(mountAt(spec, '/ro')?.options, ['rbind', 'rprivate', 'ro', 'rro'], 'rro beside ro');
  t.throws(() => containerSpec(input(cfg({ mounts: [m({ readonly: false })] }))), /mounts\[0\]\.recursive_read_only.*requires readonly/, 'not read-only: refused');
  t.throws(() => containerSpec(input(cfg({ mounts: [m({ propagation: 'PROPAGATION_BIDIRECTIONAL' })] }))), /requires PROPAGATION_PRIVATE/, 'shared propagation: refused');
  t.throws(() => containerSpec(input(cfg({ mounts: [m({ propagation: 'PROPAGATION_HOST_TO_CONTAINER' })] }))), InvalidArgumentError, 'host-to-container: refused');
});
