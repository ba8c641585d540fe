// Contents of the per-pod /etc/resolv.conf, /etc/hosts and /etc/hostname.

import type { DNSConfig__Output } from '../generated/cri/runtime/v1/DNSConfig';

/** From DNSConfig; null = no DNSConfig given, so the host's resolv.conf is copied. */
export function resolvConf(dns: DNSConfig__Output | null): string | null {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return null;
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export function hostsFile(hostname: string, ips: readonly string[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'fe00::0\tip6-mcastprefix', 'fe00::1\tip6-allnodes', 'fe00::2\tip6-allrouters'];
  for (const ip of ips) if (hostname) lines.push(`${ip}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}
