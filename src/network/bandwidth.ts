// Pod bandwidth limits from the annotations kubelet passes through
// (kubernetes.io/ingress-bandwidth, kubernetes.io/egress-bandwidth), turned
// into the CNI bandwidth plugin's runtimeConfig as containerd and CRI-O do:
// the rate in bits per second, the burst at its maximum (2^32-1 bits), so
// the limit is the rate. Pure.

import { InvalidArgumentError } from '../../common/errors';
import type { PodBandwidth } from './types';

export const INGRESS_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_ANNOTATION = 'kubernetes.io/egress-bandwidth';

/** What Kubernetes accepts for these annotations (pkg/util/bandwidth): 1k..1P bits/s. */
const MIN_RATE = 1e3;
const MAX_RATE = 1e15;
const MAX_BURST = 0xffffffff;

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * A Kubernetes resource quantity ("10M", "1.5Gi", "2e6", "500k"), as a whole
 * number rounded up the way Quantity.Value() does; undefined if `s` is not one.
 */
export function parseQuantity(s: string): number | undefined {
  const m = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]))?$/.exec(s.trim());
  if (!m) return undefined;
  const [, num, exp, suffix] = m;
  const v = Number(num) * (exp ? 10 ** Number(exp.slice(1)) : SUFFIX[suffix ?? '']);
  return Number.isFinite(v) ? Math.ceil(v) : undefined;
}

function rate(annotations: Record<string, string>, key: string): number | undefined {
  const raw = annotations[key];
  if (raw === undefined) return undefined;
  const v = parseQuantity(raw);
  if (v === undefined) throw new InvalidArgumentError(`config.annotations["${key}"]`, `"${raw.slice(0, 64)}" is not a resource quantity (e.g. 10M)`);
  if (v < MIN_RATE || v > MAX_RATE) throw new InvalidArgumentError(`config.annotations["${key}"]`, `${raw} is outside 1k..1P bits per second`);
  return v;
}

/** The pod's bandwidth limits, or undefined when it sets none. */
export function podBandwidth(annotations: Record<string, string>): PodBandwidth | undefined {
  const ingress = rate(annotations, INGRESS_ANNOTATION);
  const egress = rate(annotations, EGRESS_ANNOTATION);
  if (ingress === undefined && egress === undefined) return undefined;
  return {
    ...(ingress !== undefined ? { ingressRate: ingress, ingressBurst: MAX_BURST } : {}),
    ...(egress !== undefined ? { egressRate: egress, egressBurst: MAX_BURST } : {}),
  };
}
