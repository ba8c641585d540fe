// A typed, promise-based CRI client over grpc-js, as kubelet would use it.
// Integration and end-to-end tests drive the real daemon with it.

import { credentials, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { criGrpcObject } from '../../src/cri/proto';
import type { ImageServiceClient } from '../../src/generated/cri/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../src/generated/cri/runtime/v1/RuntimeService';

type Callback<Res> = (err: ServiceError | null, res?: Res) => void;
/** A generated client's unary method, as the proxy sees it before Promisified gives it its real types. */
type UnaryMethod = (this: Client, req: unknown, options: CallOptions, callback: Callback<unknown>) => unknown;

/** Turns each unary `Method(req, options, cb)` of a generated client into `Method(req, deadlineMs?) => Promise<Res>`. */
export type Promisified<C> = {
  [K in keyof C as K extends string ? (K extends Capitalize<K> ? K : never) : never]: C[K] extends {
    (argument: infer Req, callback: Callback<infer Res>): unknown;
  }
    ? (req: Req, deadlineMs?: number) => Promise<Res>
    : never;
};

export interface CriClient {
  runtime: Promisified<RuntimeServiceClient>;
  image: Promisified<ImageServiceClient>;
  raw: { runtime: RuntimeServiceClient; image: ImageServiceClient };
  close(): void;
}

function promisify<C extends Client>(client: C): Promisified<C> {
  return new Proxy({} as Promisified<C>, {
    get(_t, name: string) {
      const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[name];
      if (typeof fn !== 'function') return undefined;
      return (req: unknown, deadlineMs = 30_000) =>
        new Promise((resolve, reject) => {
          fn.call(client, req, { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
        });
    },
  });
}

/** `authority`: the `:authority` to send instead of grpc-js's `localhost` (e.g. the socket path, as kubelet before 1.30 does). */
export function criClient(socket: string, o: { authority?: string } = {}): CriClient {
  const grpc = criGrpcObject();
  const target = `unix://${socket}`;
  const opts = { 'grpc.max_receive_message_length': 16 << 20, ...(o.authority === undefined ? {} : { 'grpc.default_authority': o.authority }) };
  const runtime = new grpc.runtime.v1.RuntimeService(target, credentials.createInsecure(), opts);
  const image = new grpc.runtime.v1.ImageService(target, credentials.createInsecure(), opts);
  return {
    runtime: promisify(runtime),
    image: promisify(image),
    raw: { runtime, image },
    close: () => {
      runtime.close();
      image.close();
    },
  };
}
