// Builds the gRPC server (src/cri/grpc) for both CRI services. Every RPC in
// the proto is registered: methods with an implementation go through the one
// wrapper (the Stream* list RPCs derive from their List handlers,
// list-streams.ts), the rest answer UNIMPLEMENTED saying so. Request bodies
// are decoded leniently so that garbage becomes INVALID_ARGUMENT from the
// wrapper rather than a generic INTERNAL.

import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { UnavailableError, UnimplementedError } from '../../common/errors';
import type { Logger } from '../log';
import { ENCODED_BY_ENTRY, entryCachingSerializer } from './encode-cache';
import { GrpcServer, type GrpcMethod } from './grpc/server';
import type { HandlerTable } from './handler';
import { listStreams } from './list-streams';
import { imageServiceDefinition, runtimeServiceDefinition } from './proto';
import { MALFORMED, toGrpcStatus, wrapServerStream, wrapUnary, type StreamHandler, type WrapOptions } from './wrap';

export interface CriImplementation {
  runtime: HandlerTable;
  image: HandlerTable;
  /** Server-streaming RPCs, by name. */
  streams?: Record<string, StreamHandler>;
}

/** Counts calls in flight so that shutdown can wait for them. */
export class CallGate {
  private inFlight = 0;
  private closed = false;
  private waiters: Array<() => void> = [];

  admit = (): (() => void) => {
    if (this.closed) throw new UnavailableError('vmpod is shutting down; retry against the restarted daemon');
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.inFlight === 0) this.waiters.splice(0).forEach((w) => w());
    };
  };

  get active(): number {
    return this.inFlight;
  }

  /** Refuse new calls; resolve when the in-flight ones have finished. */
  close(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function lenient(def: MethodDefinition<unknown, unknown>): MethodDefinition<unknown, unknown> {
  return {
    ...def,
    requestDeserialize: (bytes: Buffer) => {
      try {
        return def.requestDeserialize(bytes);
      } catch (err) {
        return { [MALFORMED]: (err as Error).message };
      }
    },
  };
}

/** List responses encoded from per-entry parts (encode-cache.ts); one cache per server. */
function withEntryCache(name: string, def: MethodDefinition<unknown, unknown>): MethodDefinition<unknown, unknown> {
  const field = ENCODED_BY_ENTRY[name];
  return field ? { ...def, responseSerialize: entryCachingSerializer(def.responseSerialize, field) } : def;
}

/** Every method of `service` into `methods`, by path. */
function implement(methods: Map<string, GrpcMethod>, service: ServiceDefinition, table: HandlerTable, streams: Record<string, StreamHandler>, opts: WrapOptions, serviceName: string): void {
  for (const [name, method] of Object.entries(service) as Array<[string, MethodDefinition<unknown, unknown>]>) {
    // CRI has no client-streaming method; one added to the proto needs a server that reads streams first.
    if (method.requestStream) throw new Error(`${serviceName}/${name} takes a client stream, which vmpod's gRPC server does not serve`);
    const { requestDeserialize, responseSerialize } = withEntryCache(name, lenient(method));
    if (method.responseStream) {
      const handle = wrapServerStream(name, streams[name] ?? unimplementedStream(serviceName, name), opts);
      methods.set(method.path, { responseStream: true, requestDeserialize, responseSerialize, handle });
    } else {
      const handle = wrapUnary(name, table[name] ?? unimplemented(serviceName, name), opts);
      methods.set(method.path, { responseStream: false, requestDeserialize, responseSerialize, handle });
    }
  }
}

function unimplemented(service: string, method: string) {
  return async (): Promise<never> => {
    throw new UnimplementedError(`${service}/${method} is not implemented by vmpod yet`);
  };
}

function unimplementedStream(service: string, method: string): StreamHandler {
  // eslint-disable-next-line require-yield -- the stream fails before its first message
  return async function* () {
    throw new UnimplementedError(`${service}/${method} is not implemented by vmpod yet`);
  };
}

export function createCriServer(impl: CriImplementation, log: Logger): { server: GrpcServer; gate: CallGate } {
  const gate = new CallGate();
  const opts: WrapOptions = { log: log.child({ subsystem: 'cri' }), admit: gate.admit };
  const streams = { ...listStreams(impl), ...impl.streams };
  const methods = new Map<string, GrpcMethod>();
  implement(methods, runtimeServiceDefinition(), impl.runtime, streams, opts, 'RuntimeService');
  implement(methods, imageServiceDefinition(), impl.image, streams, opts, 'ImageService');
  // kubelet sends ListContainers responses of many MiB on a busy node; match its 16 MiB limit.
  const server = new GrpcServer(methods, { maxReceiveMessageBytes: 16 << 20, maxSendMessageBytes: 16 << 20, toStatus: toGrpcStatus });
  return { server, gate };
}
