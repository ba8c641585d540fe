// CRI ContainerConfig + image config + pod → OCI runtime spec. Pure: every
// host fact comes in through `input.host`; every silent change (a capability
// withheld, oom_score_adj raised) comes back as a note for the caller to log.

import type { ContainerSpecInput, NamespaceModeName, SpecNote, SpecResult } from './input';
import { OCI_VERSION, type OciSpec } from './types';
import { resolveArgs, resolveCwd } from './process';
import { mergeEnv } from './env';
import { resolveUser } from './user';
import { resolveCapabilities } from './capabilities';
import { clampOomScoreAdj, DEFAULT_DEVICE_RULES, resolveResources } from './resources';
import { InvalidArgumentError } from '../../common/errors';
import { containerNamespaces } from './namespaces';
import { criMounts, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, defaultMounts, mergeMounts, podMounts, rootfsPropagation } from './mounts';
import { resolveDevices } from './devices';
import { resolveSeccomp } from './seccomp';

/** cgroupfs path of a pod's cgroup; kubelet gives one, crictl often does not. */
export function podCgroupParent(cgroupParent: string, podId: string): string {
  return cgroupParent || `/vmpod/${podId}`;
}

export function containerSpec(input: ContainerSpecInput): SpecResult<OciSpec> {
  const { config, image, pod, host } = input;
  const notes: SpecNote[] = [];
  const sc = config.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  const readonlyRootfs = sc?.readonly_rootfs ?? false;
  // As Kubernetes' own validation: a privileged container would hold the host's devices and capabilities outside the namespace.
  if (privileged && pod.userns) throw new InvalidArgumentError('config.linux.security_context.privileged', 'a privileged container cannot run in a pod with a user namespace (hostUsers: false)');

  const capabilities = resolveCapabilities(sc?.capabilities ?? null, privileged, host.capabilities, notes);
  const resources = resolveResources(config.linux?.resources ?? null, host);
  const requestedOom = Number(config.linux?.resources?.oom_score_adj || 0);
  const devs = resolveDevices(config.devices, host);
  const devices = privileged ? host.hostDevices() : devs.devices;
  resources.devices = privileged ? [{ allow: true, access: 'rwm' }] : [...DEFAULT_DEVICE_RULES, ...devs.rules];

  const mounts = mergeMounts(defaultMounts(privileged), podMounts(pod, readonlyRootfs), criMounts(config.mounts, host, { idmap: !!pod.userns }));
  const ns = sc?.namespace_options;
  const mode = (m: string | undefined, dflt: NamespaceModeName): NamespaceModeName => (m as NamespaceModeName | undefined) ?? dflt;

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty,
      user: resolveUser(sc, image.User ?? '', input.passwd, input.group),
      args: resolveArgs(config.command, config.args, image),
      env: mergeEnv(pod.hostname, image, config.envs, config.tty),
      cwd: resolveCwd(config.working_dir, image),
      capabilities,
      noNewPrivileges: sc?.no_new_privs ?? false,
      oomScoreAdj: clampOomScoreAdj(requestedOom, host.oomScoreAdj, notes),
    },
    root: { path: input.rootfs, readonly: readonlyRootfs },
    mounts,
    annotations: {
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.sandbox-id': pod.id,
      'io.kubernetes.cri.container-name': config.metadata?.name ?? '',
    },
    linux: {
      // A container that does not say (crictl configs often omit it) follows the pod.
      namespaces: containerNamespaces(
        pod,
        { pid: mode(ns?.pid, pod.namespaces.pid), ipc: mode(ns?.ipc, pod.namespaces.ipc), network: mode(ns?.network, pod.namespaces.network) },
        input.targetPid,
        host.cgroupVersion,
      ),
      cgroupsPath: `${podCgroupParent(pod.cgroupParent, pod.id)}/${input.containerId}`,
      resources,
      devices,
    },
  };
  if (pod.userns) {
    spec.linux.uidMappings = pod.userns.uidMappings.map((m) => ({ ...m }));
    spec.linux.gidMappings = pod.userns.gidMappings.map((m) => ({ ...m }));
  }
  if (!privileged) {
    spec.linux.maskedPaths = sc && sc.masked_paths.length > 0 ? [...sc.masked_paths] : [...DEFAULT_MASKED_PATHS];
    spec.linux.readonlyPaths = sc && sc.readonly_paths.length > 0 ? [...sc.readonly_paths] : [...DEFAULT_READONLY_PATHS];
  }
  const seccomp = resolveSeccomp(sc, capabilities.bounding, host);
  if (seccomp) spec.linux.seccomp = seccomp;
  const prop = rootfsPropagation(mounts);
  if (prop) spec.linux.rootfsPropagation = prop;
  return { spec, notes };
}
