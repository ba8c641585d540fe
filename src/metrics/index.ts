// The metrics of one daemon, put together: the registry with its observers
// (metrics.ts), the collect-time readings of the pod domain (inventory.ts,
// pod-cost.ts) and the HTTP endpoint (server.ts). compose.ts builds it when
// [metrics] enabled = true and closes it with the daemon.

import type { AddressInfo } from 'node:net';
import type { MetricsConfig } from '../config/types';
import type { Logger } from '../log';
import { registerInventory, type InventorySource } from './inventory';
import { VmpodMetrics } from './metrics';
import { registerPodCost, type PodCost } from './pod-cost';
import { MetricsServer } from './server';

export { VmpodMetrics } from './metrics';
export { toPodCosts } from './pod-cost';

/** A scrape reads pod costs at most this often; Prometheus' default interval is 60 s, common ones 10–30 s. */
const POD_COST_MAX_AGE_MS = 10_000;

export interface MetricsSources {
  inventory: InventorySource;
  podCosts(): Promise<PodCost[]>;
}

export class DaemonMetrics {
  private readonly server: MetricsServer;

  constructor(
    readonly metrics: VmpodMetrics,
    private readonly cfg: MetricsConfig,
    sources: MetricsSources,
    log: Logger,
  ) {
    registerInventory(metrics.registry, sources.inventory);
    registerPodCost(metrics.registry, () => sources.podCosts(), POD_COST_MAX_AGE_MS);
    this.server = new MetricsServer(metrics, log);
  }

  start(): Promise<AddressInfo> {
    return this.server.listen(this.cfg.address);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
