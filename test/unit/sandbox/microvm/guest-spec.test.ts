import t from 'tap';
import { FailedPreconditionError, InternalError, InvalidArgumentError } from '../../../../common/errors';
import { ALL_CAPABILITIES } from '../../../../common/capabilities';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { Mount__Output } from '../../../../src/generated/cri/runtime/v1/Mount';
import { containerSpec } from '../../../../src/oci/container-spec';
import type { NamespaceModeName } from '../../../../src/oci/input';
import { guestHostFacts, guestPodContext, guestSpec } from '../../../../src/sandbox/microvm/guest-spec';
import { checkVmContainer } from '../../../../src/sandbox/microvm/admission';
import { GUEST_SHARED_DIR, podPaths, sharePath } from '../../../../src/sandbox/microvm/layout';

const paths = podPaths('/run/vmpod', 'pod1');
const podFile = (n: 'hosts' | 'resolv.conf' | 'hostname'): string => `${paths.shared}/${sharePath.podFile(n)}`;
const facts = guestHostFacts({ pathExists: (p) => p.startsWith('/var/lib/kubelet'), readFile: () => '' });

const mount = (container_path: string, host_path: string, readonly = false, propagation = 'PROPAGATION_PRIVATE'): Mount__Output =>
  ({
    container_path,
    host_path,
    readonly,
    selinux_relabel: false,
    propagation,
    uid_mappings: [],
    gid_mappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
  }) as unknown as Mount__Output;

function cfg(p: Partial<ContainerConfig__Output> = {}, pidMode: NamespaceModeName = 'CONTAINER'): ContainerConfig__Output {
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
        namespace_options: { network: 'POD', pid: pidMode, ipc: 'POD', target_id: '', userns_options: null },
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
      },
      resources: null,
    },
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...p,
  } as unknown as ContainerConfig__Output;
}

function hostSpec(config: ContainerConfig__Output, pidMode: NamespaceModeName = 'CONTAINER') {
  const pod = guestPodContext('pod1', 'web', { network: 'POD', pid: pidMode, ipc: 'POD' }, { hosts: podFile('hosts'), resolvConf: podFile('resolv.conf'), hostname: podFile('hostname') });
  return containerSpec({ containerId: 'ctr1', config, image: {}, rootfs: '/host/rootfs/ignored', passwd: '', group: '', pod, targetPid: 0, host: facts }).spec;
}

t.test('rootfs, pod files and CRI mounts become paths under the guest share', async (t) => {
  const config = cfg({ mounts: [mount('/data', '/var/lib/kubelet/pods/u/volumes/empty', false), mount('/etc/config/', '/var/lib/kubelet/pods/u/volumes/cm', true)] });
  const shared = new Map([
    ['/data', sharePath.mount('ctr1', 0)],
    ['/etc/config', sharePath.mount('ctr1', 1)],
  ]);
  const { spec } = guestSpec({ spec: hostSpec(config), sharedHostDir: paths.shared, rootfsRel: sharePath.rootfs('ctr1'), sharedMounts: shared });
  const at = (d: string) => spec.mounts.find((m) => m.destination === d);
  const cases: [string, string | undefined, string][] = [
    ['rootfs', spec.root.path, `${GUEST_SHARED_DIR}/c/ctr1/rootfs`],
    ['/etc/hosts', at('/etc/hosts')?.source, `${GUEST_SHARED_DIR}/pod/hosts`],
    ['/etc/resolv.conf', at('/etc/resolv.conf')?.source, `${GUEST_SHARED_DIR}/pod/resolv.conf`],
    ['/etc/hostname', at('/etc/hostname')?.source, `${GUEST_SHARED_DIR}/pod/hostname`],
    ['emptyDir mount', at('/data')?.source, `${GUEST_SHARED_DIR}/c/ctr1/m/0`],
    ['configmap mount (trailing slash)', at('/etc/config')?.source, `${GUEST_SHARED_DIR}/c/ctr1/m/1`],
    ["/dev/shm binds the guest's pod-wide one", `${at('/dev/shm')?.type} ${at('/dev/shm')?.source}`, 'bind /dev/shm'],
  ];
  for (const [desc, got, want] of cases) t.equal(got, want, desc);
  t.ok(at('/etc/config')?.options.includes('ro'), 'readonly CRI mount stays readonly');
  t.ok(at('/data')?.options.includes('rw'), 'writable CRI mount stays writable');
  t.equal(at('/proc')?.type, 'proc', 'non-bind mounts untouched');
});

t.test("pod-wide namespaces are the VM's own; private ones stay", async (t) => {
  const cases: { desc: string; pid: NamespaceModeName; want: string[] }[] = [
    { desc: 'own PID namespace', pid: 'CONTAINER', want: ['cgroup', 'mount', 'pid'] },
    { desc: "pod PID namespace = the VM's", pid: 'POD', want: ['cgroup', 'mount'] },
  ];
  for (const c of cases) {
    const { spec } = guestSpec({ spec: hostSpec(cfg({}, c.pid), c.pid), sharedHostDir: paths.shared, rootfsRel: sharePath.rootfs('ctr1'), sharedMounts: new Map() });
    t.same(spec.linux.namespaces.map((n) => n.type).sort(), c.want, c.desc);
    t.notOk(
      spec.linux.namespaces.some((n) => n.path !== undefined),
      `${c.desc}: no host /proc paths`,
    );
  }
});

t.test('a bind is rprivate in the guest; only propagation the host cannot give is noted', async (t) => {
  const cases: { desc: string; propagation: string; note: boolean }[] = [
    { desc: 'None', propagation: 'PROPAGATION_PRIVATE', note: false },
    // HostToContainer is done on the host: the volume's bind into the share is rslave (propagation.ts).
    { desc: 'HostToContainer', propagation: 'PROPAGATION_HOST_TO_CONTAINER', note: false },
    // Refused by checkVmContainer before the spec is made; guestSpec alone still does not pass it on.
    { desc: 'Bidirectional', propagation: 'PROPAGATION_BIDIRECTIONAL', note: true },
  ];
  for (const c of cases) {
    const { spec, notes } = guestSpec({
      spec: hostSpec(cfg({ mounts: [mount('/x', '/var/lib/kubelet/x', false, c.propagation)] })),
      sharedHostDir: paths.shared,
      rootfsRel: sharePath.rootfs('ctr1'),
      sharedMounts: new Map([['/x', sharePath.mount('ctr1', 0)]]),
    });
    const m = spec.mounts.find((x) => x.destination === '/x');
    t.same(
      m?.options.filter((o) => /private|slave|shared/.test(o)),
      ['rprivate'],
      `${c.desc}: rprivate in the guest`,
    );
    t.equal(spec.linux.rootfsPropagation, undefined, `${c.desc}: no rootfs propagation`);
    t.equal(notes.length, c.note ? 1 : 0, `${c.desc}: ${c.note ? 'noted' : 'nothing to note'}`);
  }
});

t.test('a bind source that is not shared with the VM is an error', async (t) => {
  const config = cfg({ mounts: [mount('/x', '/var/lib/kubelet/x')] });
  t.throws(() => guestSpec({ spec: hostSpec(config), sharedHostDir: paths.shared, rootfsRel: sharePath.rootfs('ctr1'), sharedMounts: new Map() }), InternalError);
});

t.test('what a VM cannot give a container is refused, with why', async (t) => {
  const cases: { desc: string; config: ContainerConfig__Output; err?: { constructor: unknown; message: RegExp } }[] = [
    {
      desc: 'host devices',
      config: cfg({ devices: [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rwm' }] }),
      err: { constructor: InvalidArgumentError, message: /host devices cannot be passed into a VM pod/ },
    },
    {
      desc: 'Bidirectional propagation',
      config: cfg({ mounts: [mount('/x', '/var/lib/kubelet/x', false, 'PROPAGATION_BIDIRECTIONAL')] }),
      err: { constructor: FailedPreconditionError, message: /no VM runtime can provide/ },
    },
    {
      desc: 'a read-only HostToContainer volume',
      config: cfg({ mounts: [mount('/x', '/var/lib/kubelet/x', true, 'PROPAGATION_HOST_TO_CONTAINER')] }),
      err: { constructor: FailedPreconditionError, message: /cannot keep read-only/ },
    },
    { desc: 'a writable HostToContainer volume', config: cfg({ mounts: [mount('/x', '/var/lib/kubelet/x', false, 'PROPAGATION_HOST_TO_CONTAINER')] }) },
    { desc: 'a privileged container (privileged inside the guest)', config: privileged() },
    { desc: 'a plain container', config: cfg() },
  ];
  for (const c of cases) {
    if (c.err) t.throws(() => checkVmContainer(c.config), c.err, c.desc);
    else t.doesNotThrow(() => checkVmContainer(c.config), c.desc);
  }
});

function privileged(p: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  const c = cfg(p);
  const sc = (c.linux as unknown as { security_context: Record<string, unknown> }).security_context;
  sc.privileged = true;
  // Ignored when privileged (critest: "runtime should ignore a seccomp profile that blocks setting hostname when privileged").
  sc.seccomp = { profile_type: 'Localhost', localhost_ref: '/nonexistent/block-hostname.json' };
  return c;
}

t.test('a privileged container: privileged inside the guest, nothing of the host', async (t) => {
  const config = privileged({ mounts: [mount('/data', '/var/lib/kubelet/pods/u/volumes/empty')] });
  const { spec } = guestSpec({ spec: hostSpec(config), sharedHostDir: paths.shared, rootfsRel: sharePath.rootfs('ctr1'), sharedMounts: new Map([['/data', sharePath.mount('ctr1', 0)]]) });
  const at = (d: string) => spec.mounts.find((m) => m.destination === d);
  t.equal(spec.process.capabilities.bounding.length, ALL_CAPABILITIES.length, 'every capability (the agent narrows them to those it holds)');
  t.equal(spec.linux.seccomp, undefined, 'no seccomp filter, even with a Localhost profile asked for');
  t.same([spec.linux.maskedPaths, spec.linux.readonlyPaths], [undefined, undefined], 'no masked or read-only paths');
  t.ok(at('/sys')?.options.includes('rw') && !at('/sys')?.options.includes('ro'), '/sys read-write');
  t.notOk(at('/proc')?.options.includes('ro'), '/proc read-write');
  t.same(spec.linux.devices, [], "no device node of the host (the agent adds the guest's)");
  t.same(spec.linux.resources?.devices, [{ allow: true, access: 'rwm' }], "the device cgroup lets it use the guest's devices");
  const binds = spec.mounts.filter((m) => m.type === 'bind');
  t.ok(
    binds.length >= 4 && binds.every((m) => m.source.startsWith(`${GUEST_SHARED_DIR}/`) || m.source === '/dev/shm'),
    "every bind comes from the pod's share (or the guest's /dev/shm): no host path",
  );
  t.ok(spec.root.path.startsWith(`${GUEST_SHARED_DIR}/`), 'rootfs from the share');
});

t.test('guest facts: every capability, cgroup v2, no host devices', async (t) => {
  t.ok(facts.capabilities.has('CAP_SYS_RESOURCE'), 'CAP_SYS_RESOURCE available in the guest');
  t.equal(facts.cgroupVersion, 2);
  t.same(facts.hostDevices(), []);
  t.equal(facts.statDevice('/dev/null'), null);
});
