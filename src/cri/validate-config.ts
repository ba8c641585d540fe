// Validation of the strings in a pod or container config that reach a file
// name, a command line, resolv.conf, CNI or the guest. kubelet sends
// well-formed values; a buggy or compromised client must get
// INVALID_ARGUMENT naming the field, never a file written outside the pod's
// log directory or a line injected into the pod's resolv.conf.
//
// Names: kubelet's are DNS-1123, but critest (the conformance suite) names
// pods "create-PodSandbox-for-container-<uuid>", and containerd accepts any
// name; so the rule is what keeps a name harmless everywhere it is used
// (paths, labels, log lines, argv): letters, digits, '.', '_' and '-',
// starting and ending with a letter or digit, at most 253 bytes.

import { isIP } from 'node:net';
import { isAbsolute, normalize } from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { DNSConfig__Output } from '../generated/cri/runtime/v1/DNSConfig';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { PortMapping__Output } from '../generated/cri/runtime/v1/PortMapping';
import { argvStrings, requireObject, requireString } from './validate';
import { validateResources } from './validate-resources';

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;
/** kubelet allows 32 search domains (MaxDNSSearchPaths); glibc reads 3 servers; both bounded generously. */
const MAX_DNS_ENTRIES = 32;
const MAX_DNS_STRING = 253;

export function objectName(value: string, field: string): string {
  if (!NAME.test(value)) {
    throw new InvalidArgumentError(
      field,
      `${JSON.stringify(value.slice(0, 300))} is not a valid name: letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 253 bytes`,
    );
  }
  return value;
}

/** Linux's limits (NAME_MAX, PATH_MAX): past them every file call fails with ENAMETOOLONG, an INTERNAL error deep in a pod's start. */
const NAME_MAX = 255;
const PATH_MAX = 4095;

function withinPathLimits(value: string, field: string): void {
  const long = value.split('/').find((c) => Buffer.byteLength(c) > NAME_MAX);
  if (long !== undefined || Buffer.byteLength(value) > PATH_MAX) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value.slice(0, 100))}… is too long for a path: at most ${PATH_MAX} bytes, ${NAME_MAX} per component`);
  }
}

/** An absolute, normalised directory: no '..', no NUL, no trailing tricks. */
export function absoluteDir(value: string, field: string): string {
  withinPathLimits(value, field);
  if (value.includes('\0') || !isAbsolute(value) || normalize(value).replace(/\/$/, '') !== value.replace(/\/$/, '') || value.split('/').includes('..')) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value.slice(0, 300))} must be an absolute, normalised path`);
  }
  return value;
}

/** CRI: log_path is relative to the pod's log_directory and must stay inside it. */
export function relativeLogPath(value: string, field: string): string {
  withinPathLimits(value, field);
  const n = normalize(value);
  if (value.includes('\0') || isAbsolute(value) || n === '.' || n === '..' || n.startsWith('../') || value.endsWith('/')) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value.slice(0, 300))} must be a file path relative to the pod's log_directory, inside it`);
  }
  return value;
}

function noControl(value: string, field: string, what: string): void {
  // Whitespace too: resolv.conf is line- and space-separated, so a space or newline would add options or lines.
  if (value.length === 0 || value.length > MAX_DNS_STRING || [...value].some((ch) => ch.charCodeAt(0) <= 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value.slice(0, 300))} is not a valid ${what}: 1 to ${MAX_DNS_STRING} bytes without spaces or control characters`);
  }
}

export function validateDnsConfig(dns: DNSConfig__Output, field: string): void {
  for (const [list, name] of [
    [dns.servers, 'servers'],
    [dns.searches, 'searches'],
    [dns.options, 'options'],
  ] as const) {
    if (list.length > MAX_DNS_ENTRIES) throw new InvalidArgumentError(`${field}.${name}`, `has ${list.length} entries; at most ${MAX_DNS_ENTRIES}`);
  }
  dns.servers.forEach((s, i) => {
    if (isIP(s) === 0) throw new InvalidArgumentError(`${field}.servers[${i}]`, `${JSON.stringify(s.slice(0, 100))} is not an IP address`);
  });
  dns.searches.forEach((s, i) => noControl(s, `${field}.searches[${i}]`, 'search domain'));
  dns.options.forEach((s, i) => noControl(s, `${field}.options[${i}]`, 'resolver option'));
}

const PROTOCOLS: readonly unknown[] = ['TCP', 'UDP', 'SCTP'];

/**
 * A port mapping CNI's portmap plugin takes: a container port 1..65535, a host
 * port 0 (none) to 65535, a defined protocol, an IP or nothing to bind. The
 * plugin refuses anything else in ADD and in DEL alike, so a bad mapping
 * failed RunPodSandbox as INTERNAL and its network could not be undone
 * (found by the CRI fuzzer: container_port 0).
 */
export function validatePortMapping(p: PortMapping__Output, field: string): void {
  if (!Number.isInteger(p.container_port) || p.container_port < 1 || p.container_port > 65535)
    throw new InvalidArgumentError(`${field}.container_port`, `${p.container_port} is not a port number (1..65535)`);
  if (!Number.isInteger(p.host_port) || p.host_port < 0 || p.host_port > 65535) throw new InvalidArgumentError(`${field}.host_port`, `${p.host_port} is not a port number (0 for none, or 1..65535)`);
  if (!PROTOCOLS.includes(p.protocol)) throw new InvalidArgumentError(`${field}.protocol`, `${String(p.protocol)} is not TCP, UDP or SCTP`);
  if (p.host_ip && isIP(p.host_ip) === 0) throw new InvalidArgumentError(`${field}.host_ip`, `${JSON.stringify(p.host_ip.slice(0, 100))} is not an IP address`);
}

/** RunPodSandbox's config: what the domain below may take as given. */
export function validatePodConfig(config: PodSandboxConfig__Output): void {
  const md = requireObject(config.metadata, 'config.metadata');
  objectName(requireString(md.name, 'config.metadata.name'), 'config.metadata.name');
  objectName(requireString(md.namespace, 'config.metadata.namespace'), 'config.metadata.namespace');
  if (md.uid) objectName(md.uid, 'config.metadata.uid');
  if (config.log_directory) absoluteDir(config.log_directory, 'config.log_directory');
  if (config.dns_config) validateDnsConfig(config.dns_config, 'config.dns_config');
  (config.port_mappings ?? []).forEach((p, i) => validatePortMapping(p, `config.port_mappings[${i}]`));
  if (config.linux?.resources) validateResources(config.linux.resources, 'config.linux.resources');
  if (config.linux?.overhead) validateResources(config.linux.overhead, 'config.linux.overhead');
}

/** CreateContainer's config. */
export function validateContainerConfig(config: ContainerConfig__Output): void {
  const md = requireObject(config.metadata, 'config.metadata');
  objectName(requireString(md.name, 'config.metadata.name'), 'config.metadata.name');
  requireString(requireObject(config.image, 'config.image').image, 'config.image.image');
  if (config.log_path) relativeLogPath(config.log_path, 'config.log_path');
  argvStrings(config.command ?? [], 'config.command');
  argvStrings(config.args ?? [], 'config.args');
  (config.envs ?? []).forEach((e, i) => {
    if (e.key.includes('\0') || e.value.includes('\0')) throw new InvalidArgumentError(`config.envs[${i}]`, 'holds a NUL byte, which no environment string can carry');
  });
  if (config.working_dir?.includes('\0')) throw new InvalidArgumentError('config.working_dir', 'holds a NUL byte, which no path can carry');
  if (config.linux?.resources) validateResources(config.linux.resources, 'config.linux.resources');
}
