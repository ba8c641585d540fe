// Pod sandbox lifecycle behind the RunPodSandbox / StopPodSandbox /
// RemovePodSandbox handlers: routing, network, controller, store.

import { hostname as osHostname } from 'node:os';
import { AlreadyExistsError, UnimplementedError } from '../../../common/errors';
import type { Logger } from '../../log';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig';
import { routePod } from '../../sandbox/route';
import { podBandwidth } from '../../network/bandwidth';
import { Steps } from '../../sandbox/steps';
import type { PodNamespaceModes, SandboxRecord } from '../../store/sandbox';
import type { ContainerRecord } from '../../store/container';
import type { RuntimeDeps } from './deps';
import { forgetCpuSample, podCpuKey } from './cpu-samples';
import { newId, nowNs } from './ids';
import { removeContainerRecord, stopContainerRecord } from './containers';
import { controllerFor, handleOf } from './sandbox-ref';
import { locksOf } from './keyed-lock';
import { requireObject, requireString } from '../validate';
import { podHostname } from '../../oci/hostname';

function namespaceModes(config: PodSandboxConfig__Output): PodNamespaceModes {
  const ns = config.linux?.security_context?.namespace_options;
  return { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD' };
}

export async function runPod(deps: RuntimeDeps, config: PodSandboxConfig__Output, runtimeHandler: string, callLog: Logger): Promise<string> {
  const md = requireObject(config.metadata, 'config.metadata');
  requireString(md.name, 'config.metadata.name');
  requireString(md.namespace, 'config.metadata.namespace');
  const bandwidth = podBandwidth(config.annotations ?? {});
  const route = routePod(deps.config.runtime, runtimeHandler, config);
  const controller = deps.controllers.get(route.type);
  if (!controller) throw new UnimplementedError(`pod "${md.namespace}/${md.name}" is routed to handler "${route.handler}" (${route.reason}), but the ${route.type} runtime is not available yet`);
  const dup = deps.sandboxes.list().find((s) => {
    const m = s.config.metadata;
    return m?.name === md.name && m.namespace === md.namespace && m.uid === md.uid && m.attempt === md.attempt;
  });
  if (dup) throw new AlreadyExistsError('pod sandbox', `${md.namespace}/${md.name} attempt ${md.attempt}`, `already created as ${dup.id}`);

  const id = newId();
  const log = deps.log.child({ subsystem: 'pod', podSandboxId: id });
  log.info({ handler: route.handler, type: route.type, reason: route.reason, pod: `${md.namespace}/${md.name}` }, 'pod routed');
  callLog.debug({ podSandboxId: id }, 'pod id assigned');
  const namespaces = namespaceModes(config);
  // A host-network pod shares the node's UTS name too, whatever the config says.
  const hostname = namespaces.network === 'NODE' ? osHostname() : podHostname(config.hostname, osHostname());
  deps.sandboxes.create({
    id, config, handler: route.handler, handlerType: route.type, routeReason: route.reason, createdAt: nowNs(), namespaces, hostname,
    state: 'SANDBOX_NOTREADY', creating: true, netnsPath: '', ip: '', additionalIps: [], runtime: null,
  });
  const steps = new Steps(`RunPodSandbox ${id}`, log);
  try {
    const net = await steps.run('network-setup', () => deps.network.setup({
      id, name: md.name, namespace: md.namespace, uid: md.uid, hostNetwork: namespaces.network === 'NODE',
      portMappings: config.port_mappings.map((p) => ({ containerPort: p.container_port, hostPort: p.host_port, protocol: p.protocol, hostIp: p.host_ip })),
      dns: config.dns_config ?? undefined,
      bandwidth,
    }), () => deps.network.teardown(id));
    const ips = [net.ips.ip, ...net.ips.additionalIps].filter(Boolean);
    const runtime = await steps.run('sandbox-create', () => controller.createSandbox({ id, config, route, namespaces, hostname, netnsPath: net.netnsPath, ips, log }));
    deps.sandboxes.update(id, (r) => ({ ...r, state: 'SANDBOX_READY', creating: false, netnsPath: net.netnsPath, ip: net.ips.ip, additionalIps: net.ips.additionalIps, runtime }));
  } catch (err) {
    deps.sandboxes.delete(id);
    throw err;
  }
  steps.done();
  return id;
}

/**
 * Runs `fn` on each container of a pod under that container's lock, so a pod
 * stop or remove waits for a StartContainer/StopContainer in flight instead
 * of acting beside it; a container removed meanwhile is skipped.
 */
async function eachContainerLocked(deps: RuntimeDeps, podId: string, fn: (c: ContainerRecord) => Promise<void>): Promise<void> {
  for (const { id } of deps.containers.list().filter((c) => c.podSandboxId === podId)) {
    await locksOf(deps).containers.run(id, async () => {
      const current = deps.containers.get(id);
      if (current) await fn(current);
    });
  }
}

export async function stopPod(deps: RuntimeDeps, sb: SandboxRecord, log: Logger): Promise<void> {
  await eachContainerLocked(deps, sb.id, (c) => stopContainerRecord(deps, c, 0, log));
  if (sb.runtime) await controllerFor(deps, sb).stopSandbox(handleOf(sb), log);
  await deps.network.teardown(sb.id);
  deps.sandboxes.update(sb.id, (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
  log.info('pod sandbox stopped');
}

export async function removePod(deps: RuntimeDeps, sb: SandboxRecord, log: Logger): Promise<void> {
  // CRI: RemovePodSandbox forcibly removes running containers too.
  await eachContainerLocked(deps, sb.id, (c) => removeContainerRecord(deps, c, log));
  if (sb.runtime) {
    const ctl = controllerFor(deps, sb);
    await ctl.stopSandbox(handleOf(sb), log);
    await ctl.removeSandbox(handleOf(sb), log);
  }
  await deps.network.teardown(sb.id);
  deps.sandboxes.delete(sb.id);
  forgetCpuSample(podCpuKey(sb.id));
  log.info('pod sandbox removed');
}
