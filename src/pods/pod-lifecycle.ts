// Pod sandboxes: RunPodSandbox, StopPodSandbox, RemovePodSandbox. The order
// of a run is route, admission (the controller's checkPod), record
// ("creating"), network, controller; each step is undone if a later one
// fails, and the record is deleted last, so a crash at any instant leaves
// either a complete pod or a "creating" record that start-up recovery
// (recover.ts) rolls back.

import { hostname as nodeHostname } from 'node:os';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '../../common/errors';
import type { Logger } from '../log';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import { podBandwidth } from '../network/bandwidth';
import { podHostname } from '../oci/hostname';
import { idMapText, podUserns } from '../oci/userns';
import type { PodNetworkRequest } from './providers';
import type { PodNamespaceModes } from '../oci/input';
import type { ControllerData } from '../sandbox/controller';
import { routePod } from '../sandbox/route';
import { restated } from '../sandbox/steps';
import { newSandboxRecord, type SandboxRecord } from '../store/sandbox';
import { nowNs } from '../../common/time';
import { removeContainer, stopContainer } from './container-lifecycle';
import { podLog, podRuntime, type Domain } from './domain';
import { podCpuKey } from './cpu-samples';
import { publishEvent } from './events';
import { newId } from './ids';
import { startSteps } from './start-steps';

function namespaceModes(config: PodSandboxConfig__Output): PodNamespaceModes {
  const ns = config.linux?.security_context?.namespace_options;
  return { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD' };
}

export async function runPod(d: Domain, config: PodSandboxConfig__Output, runtimeHandler: string, callLog: Logger): Promise<string> {
  const md = config.metadata!;
  const bandwidth = podBandwidth(config.annotations ?? {});
  const route = routePod(d.config.runtime, runtimeHandler, config.annotations ?? {});
  const ctl = d.controllers.get(route.handler);
  if (!ctl) throw new FailedPreconditionError(`handler "${route.handler}" is configured but this daemon built no controller for it; check the log from start-up`);
  const namespaces = namespaceModes(config);
  ctl.checkPod(config, namespaces);
  const userns = podUserns(config);
  if (userns) {
    // Asked of the handler's features, as kubelet does, not of what kind it is.
    if (!ctl.features().userNamespaces) {
      throw new FailedPreconditionError(
        `handler "${route.handler}" does not support user namespaces (hostUsers: false); run the pod with hostUsers: true or on a handler that advertises user_namespaces`,
      );
    }
    // As containerd: a host-network pod would share the host's netns, owned by the host's user namespace (RuntimeFeatures.user_namespaces_host_network is false).
    for (const ns of ['network', 'pid', 'ipc'] as const) {
      if (namespaces[ns] === 'NODE')
        throw new InvalidArgumentError(`config.linux.security_context.namespace_options.${ns}`, `a user namespace (hostUsers: false) cannot be combined with the host's ${ns} namespace`);
    }
  }
  // A host-network pod shares the node's UTS name too, whatever the config says.
  const hostname = namespaces.network === 'NODE' ? nodeHostname() : podHostname(config.hostname, nodeHostname());
  const dup = d.sandboxes.list().find((s) => {
    const m = s.config.metadata;
    return m?.name === md.name && m.namespace === md.namespace && m.uid === md.uid && m.attempt === md.attempt;
  });
  if (dup) throw new AlreadyExistsError('pod sandbox', `${md.namespace}/${md.name} attempt ${md.attempt}`, `already created as ${dup.id}`);

  const id = newId();
  const log = podLog(d, id);
  log.info({ handler: route.handler, reason: route.reason, pod: `${md.namespace}/${md.name}` }, 'pod routed');
  callLog.debug({ podSandboxId: id }, 'pod id assigned');
  const what = `RunPodSandbox ${md.namespace}/${md.name} (${id})`;
  const steps = startSteps(d, what, log, 'RunPodSandbox', () =>
    d.sandboxes.create(newSandboxRecord({ id, config, handler: route.handler, routeReason: route.reason, createdAt: nowNs(), namespaces, hostname })),
  );
  try {
    // userns is the network layer's PodNetworkSpec.userns; PodNetworkRequest (providers.ts, engineer O's claim) does not name it yet.
    const request: PodNetworkRequest & { userns?: { uidMap: string; gidMap: string } } = {
      id,
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      hostNetwork: namespaces.network === 'NODE',
      portMappings: config.port_mappings.map((p) => ({ containerPort: p.container_port, hostPort: p.host_port, protocol: p.protocol, hostIp: p.host_ip })),
      dns: config.dns_config ?? undefined,
      bandwidth,
      userns: userns ? { uidMap: idMapText(userns.uidMappings), gidMap: idMapText(userns.gidMappings) } : undefined,
    };
    // The netns first (the sandbox joins it by path), then CNI ADD beside the
    // sandbox's create: a runc pod's infra is created under conmon while the
    // plugins run, and awaits the addresses only for its /etc/hosts; a VM pod
    // awaits them before anything (its tap is wired to the CNI veth). Both
    // settle before anything is undone (Steps.all).
    const net = await steps.run(
      'netns',
      () => d.network.prepare(request),
      () => d.network.teardown(id),
    );
    const attaching = net.attach();
    const ips = attaching.then((n) => [n.ips.ip, ...n.ips.additionalIps].filter(Boolean));
    // Awaited by Steps.all below; a controller that never awaits `ips` must not make it an unhandled rejection.
    ips.catch(() => undefined);
    const [attached, data] = await steps.all([
      { name: 'network-setup', run: () => attaching },
      {
        name: 'sandbox-create',
        run: () => ctl.createSandbox({ id, config, namespaces, hostname, netnsPath: net.netnsPath, ips, log }),
        rollback: async (made: ControllerData) => {
          const h = { id, config, namespaces, hostname, netnsPath: net.netnsPath, data: made };
          await ctl.stopSandbox(h, log);
          await ctl.removeSandbox(h, log);
        },
      },
    ] as const);
    // The last step: if this write fails, the pod is undone like any other failed step.
    await steps.run('record', async () => {
      d.sandboxes.update(id, (r) => ({ ...r, state: 'SANDBOX_READY', creating: false, netnsPath: net.netnsPath, ip: attached.ips.ip, additionalIps: attached.ips.additionalIps, controller: data }));
    });
  } catch (err) {
    d.sandboxes.delete(id);
    throw err;
  }
  steps.done();
  // As containerd: a pod's own events carry its id as the container id; a run both creates and starts it.
  publishEvent(d, 'CONTAINER_CREATED_EVENT', id, id);
  publishEvent(d, 'CONTAINER_STARTED_EVENT', id, id);
  return id;
}

/** Each container of a pod, one after the other (each call takes that container's lock). */
async function eachContainer(d: Domain, podId: string, fn: (id: string) => Promise<void>): Promise<void> {
  for (const { id } of d.containers.list().filter((c) => c.podSandboxId === podId)) await fn(id);
}

/** Every error of a stop or removal names the pod: what failed may be one of its containers' records (a full disk). */
async function naming<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw restated(err, `${what}: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** Call under the pod's lock. */
export function stopPod(d: Domain, sb: SandboxRecord, log: Logger): Promise<void> {
  return naming(`StopPodSandbox ${sb.id}`, () => stopPodSteps(d, sb, log));
}

async function stopPodSteps(d: Domain, sb: SandboxRecord, log: Logger): Promise<void> {
  await eachContainer(d, sb.id, (id) => stopContainer(d, id, 0));
  const rt = podRuntime(d, sb);
  if (rt) await rt.ctl.stopSandbox(rt.h, log);
  await d.network.teardown(sb.id);
  // One event per transition: a pod whose infra already died was reported stopped then (exits.ts).
  const wasReady = d.sandboxes.get(sb.id)?.state === 'SANDBOX_READY';
  d.sandboxes.update(sb.id, (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
  if (wasReady) publishEvent(d, 'CONTAINER_STOPPED_EVENT', sb.id, sb.id);
  log.info('pod sandbox stopped');
}

/** Call under the pod's lock. CRI: RemovePodSandbox forcibly removes running containers too. */
export function removePod(d: Domain, sb: SandboxRecord, log: Logger): Promise<void> {
  return naming(`RemovePodSandbox ${sb.id}`, () => removePodSteps(d, sb, log));
}

async function removePodSteps(d: Domain, sb: SandboxRecord, log: Logger): Promise<void> {
  await eachContainer(d, sb.id, (id) => removeContainer(d, id));
  const rt = podRuntime(d, sb);
  if (rt) {
    await rt.ctl.stopSandbox(rt.h, log);
    await rt.ctl.removeSandbox(rt.h, log);
  }
  await d.network.teardown(sb.id);
  // The pod's containers' writable layers are deleted after each RemoveContainer answered; none may outlive the pod.
  await d.images.discardsDrained();
  const last = d.sandboxes.get(sb.id) ?? sb;
  d.sandboxes.delete(sb.id);
  publishEvent(d, 'CONTAINER_DELETED_EVENT', sb.id, sb.id, last);
  d.cpu.forget(podCpuKey(sb.id));
  log.info('pod sandbox removed');
}
