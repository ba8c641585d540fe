// CRIListStreaming (KEP 5825): each Stream* RPC answers what its List RPC
// answers, cut into chunks so that no single response has to hold a whole
// busy node. The api.proto contract: every chunk is non-empty, every item
// comes exactly once, then EOF (no items: EOF at once). A List that fails
// fails its stream with the same status. The List handlers stay the one
// implementation; this only re-packages their answer.

import type { HandlerTable } from './handler';
import type { StreamHandler } from './wrap';

interface ListStream {
  stream: string;
  list: string;
  /** Repeated field of the List response. */
  listField: string;
  /** Repeated field of the Stream response. */
  streamField: string;
  service: 'runtime' | 'image';
}

export const LIST_STREAMS: readonly ListStream[] = [
  { stream: 'StreamPodSandboxes', list: 'ListPodSandbox', listField: 'items', streamField: 'pod_sandboxes', service: 'runtime' },
  { stream: 'StreamContainers', list: 'ListContainers', listField: 'containers', streamField: 'containers', service: 'runtime' },
  { stream: 'StreamContainerStats', list: 'ListContainerStats', listField: 'stats', streamField: 'container_stats', service: 'runtime' },
  { stream: 'StreamPodSandboxStats', list: 'ListPodSandboxStats', listField: 'stats', streamField: 'pod_sandbox_stats', service: 'runtime' },
  { stream: 'StreamPodSandboxMetrics', list: 'ListPodSandboxMetrics', listField: 'pod_metrics', streamField: 'pod_sandbox_metrics', service: 'runtime' },
  { stream: 'StreamImages', list: 'ListImages', listField: 'images', streamField: 'images', service: 'image' },
];

export interface ChunkLimits {
  items: number;
  /** Bytes of an item's JSON form, a safe overestimate of its protobuf size. */
  bytes: number;
}

/** Well under kubelet's 16 MiB message limit, also for objects with large annotations. */
export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { items: 200, bytes: 4 << 20 };

/** Items in order, cut where the next one would pass either limit; never an empty chunk. Pure. */
export function chunk<T>(items: readonly T[], limits: ChunkLimits = DEFAULT_CHUNK_LIMITS): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = JSON.stringify(item)?.length ?? 0;
    if (cur.length > 0 && (cur.length >= limits.items || bytes + size > limits.bytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(item);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The Stream* handlers for whichever List handlers the tables have. */
export function listStreams(tables: { runtime: HandlerTable; image: HandlerTable }, limits: ChunkLimits = DEFAULT_CHUNK_LIMITS): Record<string, StreamHandler> {
  const out: Record<string, StreamHandler> = {};
  for (const s of LIST_STREAMS) {
    const list = tables[s.service][s.list];
    if (!list) continue;
    out[s.stream] = async function* (req, ctx) {
      const res = (await list(req, ctx)) as Record<string, unknown[] | undefined>;
      for (const items of chunk(res[s.listField] ?? [], limits)) yield { [s.streamField]: items };
    };
  }
  return out;
}
