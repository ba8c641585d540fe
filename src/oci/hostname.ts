// The hostname a pod's containers see. When the PodSandboxConfig names none,
// the pod gets the node's hostname, as containerd does (its sandbox takes
// os.Hostname() for /etc/hostname and leaves the UTS name alone): kubelet
// always sends one, so an empty one comes from a tool like crictl or critest,
// and the pod's metadata name is no substitute because the kernel takes at
// most 64 bytes (HOST_NAME_MAX) while pod names may be 253.

import { InvalidArgumentError } from '../../common/errors';

/** sethostname(2) refuses longer names. */
export const HOST_NAME_MAX = 64;

// DNS-1123 subdomain characters; upper case too, because a node's own
// hostname (what host-network pods get) may have it. Kubernetes sends a
// DNS-1123 label, or with setHostnameAsFQDN a dotted name of at most 64 bytes.
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `name` cannot be a hostname, or undefined when it can. */
export function hostnameProblem(name: string): string | undefined {
  if (Buffer.byteLength(name) > HOST_NAME_MAX) return `is ${Buffer.byteLength(name)} bytes, more than the ${HOST_NAME_MAX} the kernel takes`;
  const bad = name.split('.').find((label) => !LABEL.test(label));
  if (bad !== undefined) return `"${name}" is not a valid hostname: each dot-separated part must be 1-63 letters, digits or "-", not starting or ending with "-"`;
  return undefined;
}

/** The pod's hostname: the requested one, else the node's. Throws INVALID_ARGUMENT for one the kernel cannot take. */
export function podHostname(requested: string, nodeHostname: string): string {
  if (!requested) return nodeHostname;
  const problem = hostnameProblem(requested);
  if (problem) throw new InvalidArgumentError('config.hostname', problem);
  return requested;
}
