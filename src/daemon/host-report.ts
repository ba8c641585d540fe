// What the host offers each configured handler: the daemon-wide facts
// (host/capabilities.ts) and each handler's own (its type's checkHost), as
// `vmpod check` prints them and verbose Status reports them.

import type { VmpodConfig } from '../config/types';
import { daemonCapabilities, mergeCapabilities, type Capability } from '../host/capabilities';
import type { HandlerTypes } from '../sandbox';

export interface HostReportAll {
  capabilities: Capability[];
  /** What each handler will use here and why. */
  decisions: string[];
}

/** `deep`: also the probes that take seconds (a KVM boot); verbose Status does not run them. */
export async function hostReport(cfg: VmpodConfig, types: HandlerTypes, deep: boolean): Promise<HostReportAll> {
  const caps = daemonCapabilities(cfg);
  const decisions: string[] = [];
  for (const [name, hc] of Object.entries(cfg.runtime.handlers)) {
    const r = await types.of(hc).checkHost(name, hc, { deep });
    caps.push(...r.capabilities);
    decisions.push(...r.decisions);
  }
  return { capabilities: mergeCapabilities(caps), decisions };
}
