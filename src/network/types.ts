// Plain data shapes shared by the network module. The CNI shapes follow the
// CNI spec (https://www.cni.dev/docs/spec/); only the fields vmpod reads are
// typed, everything else is carried through untouched.

/** One CRI PortMapping, already validated by the CRI layer. */
export interface PodPortMapping {
  containerPort: number;
  hostPort: number;
  /** CRI spelling: TCP, UDP or SCTP. */
  protocol: string;
  hostIp: string;
}

export interface PodDns {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Bits per second / bits, as the CNI bandwidth plugin's runtimeConfig wants them. */
export interface PodBandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** What the network manager needs to know about a pod sandbox. */
export interface PodNetworkSpec {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  hostNetwork: boolean;
  portMappings: PodPortMapping[];
  dns?: PodDns;
  bandwidth?: PodBandwidth;
  /**
   * The pod's user namespace (`hostUsers: false`): the netns is created
   * inside it, so that the pod's processes, which join the user namespace
   * first, may then join the netns (setns needs CAP_SYS_ADMIN over the
   * netns's owner) and mount a sysfs of it.
   */
  userns?: { uidMap: string; gidMap: string };
}

/** A plugin entry of a conflist; `type` names the binary. */
export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

/** The runtimeConfig keys vmpod can fill; each goes only to plugins declaring the capability. */
export interface CniRuntimeConfig {
  portMappings?: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  bandwidth?: PodBandwidth;
  ipRanges?: { subnet: string }[][];
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. 10.88.0.5/24. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

/** A CNI result normalised to the 0.3.0+ shape (older results are converted). */
export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** The pod's addresses as PodSandboxStatus reports them. */
export interface PodIps {
  /** Primary IP (IPv4 preferred), "" when the pod has none. */
  ip: string;
  additionalIps: string[];
}

export interface NetworkStatus {
  ready: boolean;
  /** Machine-readable reason when not ready (kubelet shows it), "" when ready. */
  reason: string;
  message: string;
}
