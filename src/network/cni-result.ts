// Reading a CNI result (what the last plugin of an ADD prints) into one
// normalised shape, and choosing the pod's IPs from it for PodSandboxStatus.
// The result comes from an external program: every field is checked.

import { isIP } from 'node:net';
import { InternalError } from '../../common/errors';
import type { CniInterface, CniIpConfig, CniResult, CniRoute, PodIps } from './types';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(problem: string): InternalError {
  return new InternalError(`CNI result: ${problem}`);
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string') throw bad(`${where} must be a string`);
  return v;
}

function optStr(v: unknown, where: string): string | undefined {
  return v === undefined ? undefined : str(v, where);
}

function strList(v: unknown, where: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw bad(`${where} must be an array`);
  return v.map((x, i) => str(x, `${where}[${i}]`));
}

/** "10.1.2.3/24" → "10.1.2.3"; throws unless the part before the slash is an IP. */
export function cidrAddress(cidr: string): string {
  const addr = cidr.split('/')[0];
  if (isIP(addr) === 0) throw bad(`"${cidr}" is not an IP address in CIDR notation`);
  return addr;
}

function routes(v: unknown, where: string): CniRoute[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${where} must be an array`);
  return v.map((r, i) => {
    if (!isObject(r)) throw bad(`${where}[${i}] must be an object`);
    return { dst: str(r.dst, `${where}[${i}].dst`), gw: optStr(r.gw, `${where}[${i}].gw`) };
  });
}

function dns(v: unknown): CniResult['dns'] {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad('dns must be an object');
  return {
    nameservers: strList(v.nameservers, 'dns.nameservers'),
    domain: optStr(v.domain, 'dns.domain'),
    search: strList(v.search, 'dns.search'),
    options: strList(v.options, 'dns.options'),
  };
}

/** 0.1.0/0.2.0 results carry ip4/ip6 objects and no interfaces. */
function fromLegacy(raw: Record<string, unknown>, version: string): CniResult {
  const ips: CniIpConfig[] = [];
  const rts: CniRoute[] = [];
  for (const key of ['ip4', 'ip6'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (!isObject(v)) throw bad(`${key} must be an object`);
    const address = str(v.ip, `${key}.ip`);
    cidrAddress(address);
    ips.push({ address, gateway: optStr(v.gateway, `${key}.gateway`) });
    rts.push(...routes(v.routes, `${key}.routes`));
  }
  return { cniVersion: version, interfaces: [], ips, routes: rts, dns: dns(raw.dns) };
}

/** Parse the JSON a plugin printed on success. */
export function parseCniResult(text: string): CniResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw bad('top level is not a JSON object');
  const version = str(raw.cniVersion ?? '0.2.0', 'cniVersion');
  if (version === '0.1.0' || version === '0.2.0') return fromLegacy(raw, version);

  const interfaces: CniInterface[] = [];
  if (raw.interfaces !== undefined) {
    if (!Array.isArray(raw.interfaces)) throw bad('interfaces must be an array');
    raw.interfaces.forEach((x, i) => {
      if (!isObject(x)) throw bad(`interfaces[${i}] must be an object`);
      const mtu = x.mtu;
      if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu <= 0)) throw bad(`interfaces[${i}].mtu must be a positive integer`);
      interfaces.push({ name: str(x.name, `interfaces[${i}].name`), mac: optStr(x.mac, `interfaces[${i}].mac`), mtu, sandbox: optStr(x.sandbox, `interfaces[${i}].sandbox`) });
    });
  }
  const ips: CniIpConfig[] = [];
  if (raw.ips !== undefined) {
    if (!Array.isArray(raw.ips)) throw bad('ips must be an array');
    raw.ips.forEach((x, i) => {
      if (!isObject(x)) throw bad(`ips[${i}] must be an object`);
      const address = str(x.address, `ips[${i}].address`);
      cidrAddress(address);
      const idx = x.interface;
      if (idx !== undefined && (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0 || idx >= interfaces.length)) {
        throw bad(`ips[${i}].interface ${JSON.stringify(idx)} does not index interfaces`);
      }
      ips.push({ address, gateway: optStr(x.gateway, `ips[${i}].gateway`), interface: idx });
    });
  }
  return { cniVersion: version, interfaces, ips, routes: routes(raw.routes, 'routes'), dns: dns(raw.dns) };
}

/**
 * The pod's IPs: those on the interface `ifName` inside the sandbox (other
 * interfaces a plugin reports are host-side veths and bridges), IPv4 first
 * as kubelet expects for the primary; if the result names no interfaces
 * (legacy results), every IP counts.
 */
export function podIpsFromResult(result: CniResult, ifName: string): PodIps {
  const onPodIf = result.ips.filter((ip) => {
    if (ip.interface === undefined) return true;
    const itf = result.interfaces[ip.interface];
    return itf.name === ifName && itf.sandbox !== undefined && itf.sandbox !== '';
  });
  const addrs = onPodIf.map((ip) => cidrAddress(ip.address));
  const v4 = addrs.filter((a) => isIP(a) === 4);
  const v6 = addrs.filter((a) => isIP(a) === 6);
  const ordered = [...new Set([...v4, ...v6])];
  return { ip: ordered[0] ?? '', additionalIps: ordered.slice(1) };
}
