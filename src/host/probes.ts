import type { VmpodConfig } from '../config/types';
import type { ExtraProbes } from './capabilities';

/**
 * The probes `vmpod check` adds on top of the cheap ones: whether KVM really
 * boots a guest and which guest image the config points at. Filled in by the
 * hypervisor and guest-image modules.
 */
export function hostProbes(_cfg: VmpodConfig): ExtraProbes {
  return {};
}
