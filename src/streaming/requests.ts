// What a streaming URL's token stands for: the whole request, taken from the
// CRI call that issued it. The HTTP request that redeems the token adds
// nothing (as in containerd): the command, the container and the streams are
// the ones the CRI caller asked for, whatever the URL's query says.

import type { StreamOptions } from '../sandbox/controller';

export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; opts: StreamOptions }
  | { kind: 'attach'; containerId: string; opts: StreamOptions }
  /** `ports` empty: any port the client asks for (kubelet names none). */
  | { kind: 'portforward'; podId: string; ports: number[] };

/** What the CRI handlers need of the streaming server: a single-use URL for a validated request. */
export interface StreamUrls {
  /** `http(s)://<addr>:<port>/<kind>/<token>`; RESOURCE_EXHAUSTED when too many are outstanding. */
  issue(req: StreamRequest): string;
}
