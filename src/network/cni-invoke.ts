// Pure pieces of a CNI plugin invocation: the environment, the per-plugin
// stdin config (name, cniVersion, prevResult, runtimeConfig filtered by the
// capabilities the plugin declares), and the error object a plugin prints.
// Kept apart from cni.ts so each rule of the spec is unit-tested.

import type { CniConfList, CniPluginConf, CniRuntimeConfig, PodNetworkSpec } from './types';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

export interface CniInvocation {
  containerId: string;
  /** Path of the pod's pinned netns; "" on DEL when it is already gone. */
  netns: string;
  ifName: string;
  /** CNI_ARGS, `K=V;K=V`. */
  args: string;
}

/** CNI_ARGS as kubelet's runtimes pass it. IgnoreUnknown lets plugins that know none of these keys accept them. */
export function cniArgs(pod: Pick<PodNetworkSpec, 'id' | 'name' | 'namespace' | 'uid'>): string {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.id],
    ['K8S_POD_UID', pod.uid],
  ]
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

/**
 * The plugin's environment: only PATH from ours (plugins such as portmap
 * exec iptables) plus the CNI_* variables.
 */
export function pluginEnv(command: CniCommand, inv: CniInvocation, binDirs: string[], path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): NodeJS.ProcessEnv {
  return {
    PATH: path,
    CNI_COMMAND: command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.args,
    CNI_PATH: binDirs.join(':'),
  };
}

/** runtimeConfig built from the pod: only what is set, in the field names plugins expect. */
export function runtimeConfigFor(pod: PodNetworkSpec, podCidr: string): CniRuntimeConfig {
  const rc: CniRuntimeConfig = {};
  // hostPort 0 means "not published" in CRI; plugins must not see it.
  const published = pod.portMappings.filter((m) => m.hostPort > 0);
  if (published.length > 0) {
    rc.portMappings = published.map((m) => ({
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      protocol: (m.protocol || 'TCP').toLowerCase(),
      ...(m.hostIp ? { hostIP: m.hostIp } : {}),
    }));
  }
  if (pod.dns) rc.dns = { servers: pod.dns.servers, searches: pod.dns.searches, options: pod.dns.options };
  if (pod.bandwidth && Object.values(pod.bandwidth).some((v) => v !== undefined)) rc.bandwidth = { ...pod.bandwidth };
  if (podCidr) rc.ipRanges = [[{ subnet: podCidr }]];
  return rc;
}

/** Keep only the runtimeConfig keys the plugin declared as capabilities (CNI conventions doc). */
export function runtimeConfigForPlugin(plugin: CniPluginConf, rc: CniRuntimeConfig): Partial<CniRuntimeConfig> {
  const caps = plugin.capabilities ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rc)) if (caps[k] === true && v !== undefined) out[k] = v;
  return out;
}

/** Numeric compare of dotted versions: versionAtLeast('1.0.0', '0.4.0') === true. */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** The JSON one plugin reads on stdin. */
export function pluginStdin(list: CniConfList, plugin: CniPluginConf, rc: CniRuntimeConfig, prevResult: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const prc = runtimeConfigForPlugin(plugin, rc);
  if (Object.keys(prc).length > 0) conf.runtimeConfig = prc;
  else delete conf.runtimeConfig;
  if (prevResult !== undefined && prevResult !== null) conf.prevResult = prevResult;
  else delete conf.prevResult;
  return conf;
}

export interface CniErrorInfo {
  code?: number;
  msg: string;
  details?: string;
}

/** The error a failing plugin printed on stdout, or its stderr when it printed no CNI error. */
export function parsePluginError(stdout: string, stderr: string): CniErrorInfo {
  try {
    const e = JSON.parse(stdout) as unknown;
    if (typeof e === 'object' && e !== null && typeof (e as { msg?: unknown }).msg === 'string') {
      const { code, msg, details } = e as { code?: unknown; msg: string; details?: unknown };
      return { code: typeof code === 'number' ? code : undefined, msg, details: typeof details === 'string' && details ? details : undefined };
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return { msg: (stderr.trim() || stdout.trim() || 'no output').slice(0, 2000) };
}
