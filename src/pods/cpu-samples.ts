// The previous CPU sample of each container and pod: usage_nano_cores is a
// rate, so it needs two samples. An entry is dropped when its container or
// pod is removed; kept forever, the map grew with every container the node
// ever ran.

export interface CpuSample {
  ts: bigint;
  usage: number;
}

export class CpuSamples {
  private readonly last = new Map<string, CpuSample>();

  /** Record a sample for `key` and return the rate since the previous one (ns of CPU per s), if there was one. */
  rate(key: string, tsNs: string, usageNs: number): number | undefined {
    const ts = BigInt(tsNs);
    const prev = this.last.get(key);
    this.last.set(key, { ts, usage: usageNs });
    if (!prev || ts <= prev.ts) return undefined;
    return ((usageNs - prev.usage) * 1e9) / Number(ts - prev.ts);
  }

  forget(key: string): void {
    this.last.delete(key);
  }

  has(key: string): boolean {
    return this.last.has(key);
  }

  get size(): number {
    return this.last.size;
  }
}

export const podCpuKey = (podId: string): string => `pod:${podId}`;
