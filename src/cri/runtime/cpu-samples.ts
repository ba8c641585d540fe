// The previous CPU sample of each container and pod cgroup: usage_nano_cores
// is a rate, so it needs two samples. An entry is dropped when its container
// or pod is removed; kept forever, the map grew with every container the
// node ever ran.

export interface CpuSample {
  ts: bigint;
  usage: number;
}

const last = new Map<string, CpuSample>();

export const podCpuKey = (podId: string): string => `pod:${podId}`;

/** Record `next` for `key` and return the sample it replaces. */
export function swapCpuSample(key: string, next: CpuSample): CpuSample | undefined {
  const prev = last.get(key);
  last.set(key, next);
  return prev;
}

export function forgetCpuSample(key: string): void {
  last.delete(key);
}

export function hasCpuSample(key: string): boolean {
  return last.has(key);
}
