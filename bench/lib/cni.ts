// A CNI network for benchmarks: a bridge with host-local addresses on a
// test-only subnet, written as a conflist that both vmpod and containerd
// read. Subnets come from 198.18.0.0/15, the range RFC 2544 sets aside for
// benchmarking, so they can never collide with a real network; nothing is
// routed or masqueraded, the pods only need an address.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchNetwork {
  /** Network name (also the conflist file name). */
  name: string;
  /** Linux bridge device, at most 15 characters. */
  bridge: string;
  /** IPv4 /24 inside 198.18.0.0/15. */
  subnet: string;
}

export function benchNetwork(name: string, bridge: string, index: number): BenchNetwork {
  if (!Number.isInteger(index) || index < 0 || index > 511) throw new RangeError(`network index ${index} is outside 0..511 (198.18.0.0/15 holds 512 /24s)`);
  if (bridge.length > 15) throw new RangeError(`bridge name "${bridge}" is longer than IFNAMSIZ-1 (15)`);
  return { name, bridge, subnet: `198.${18 + (index >> 8)}.${index & 255}.0/24` };
}

export function bridgeConflist(n: BenchNetwork): object {
  return {
    cniVersion: '0.4.0',
    name: n.name,
    plugins: [
      {
        type: 'bridge',
        bridge: n.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: n.subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
    ],
  };
}

/** Writes `<dir>/10-<name>.conflist`; returns the dir. */
export function writeConflist(dir: string, n: BenchNetwork): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `10-${n.name}.conflist`), `${JSON.stringify(bridgeConflist(n), null, 2)}\n`);
  return dir;
}
