// vmpod's Prometheus metrics: one Registry per daemon (never prom-client's
// global one), the metrics that are told what happened (CRI calls, start
// phases, pulls) and the collect-time ones registered by
// inventory.ts and pod-cost.ts. docs/metrics.md lists every metric.

import { Counter, Histogram, Registry } from 'prom-client';
import type { CallObserver } from '../cri/wrap';
import type { PullOutcome } from '../image/service';
import type { PhaseObserver } from '../sandbox/steps';

/** CRI calls: from a cached List (ms) to a VM start or an image pull (minutes). */
const CALL_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Start phases: a record write (ms) to a guest boot (seconds). */
const PHASE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const PULL_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class VmpodMetrics implements CallObserver, PhaseObserver {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'code'>;
  private readonly callSeconds: Histogram<'method' | 'code'>;
  private readonly phaseSeconds: Histogram<'operation' | 'step'>;
  private readonly pulls: Counter<'result'>;
  private readonly pullBytes: Counter;
  private readonly pullSeconds: Histogram<'result'>;

  constructor() {
    const registers = [this.registry];
    this.calls = new Counter({ name: 'vmpod_cri_calls_total', help: 'CRI calls answered, by method and gRPC status code.', labelNames: ['method', 'code'], registers });
    this.callSeconds = new Histogram({
      name: 'vmpod_cri_call_duration_seconds',
      help: 'Time from a CRI call reaching its handler to its answer, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.phaseSeconds = new Histogram({
      name: 'vmpod_start_phase_duration_seconds',
      help: 'Duration of each completed step of a pod or container start, by operation and step.',
      labelNames: ['operation', 'step'],
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.pulls = new Counter({ name: 'vmpod_image_pulls_total', help: 'Image pulls finished, by result (ok, error).', labelNames: ['result'], registers });
    this.pullBytes = new Counter({ name: 'vmpod_image_pull_bytes_total', help: 'Config and compressed layer bytes of the images pulled successfully (layers already present included).', registers });
    this.pullSeconds = new Histogram({ name: 'vmpod_image_pull_duration_seconds', help: 'Duration of image pulls, by result (ok, error).', labelNames: ['result'], buckets: PULL_BUCKETS, registers });
  }

  callDone(method: string, code: string, seconds: number): void {
    this.calls.inc({ method, code });
    this.callSeconds.observe({ method, code }, seconds);
  }

  phaseDone(operation: string, step: string, seconds: number): void {
    this.phaseSeconds.observe({ operation, step }, seconds);
  }

  pullDone(o: PullOutcome): void {
    const result = o.ok ? 'ok' : 'error';
    this.pulls.inc({ result });
    this.pullSeconds.observe({ result }, o.seconds);
    if (o.ok) this.pullBytes.inc(o.bytes);
  }

  /** The exposition text and its content type, for one scrape. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
