// Builds the grpc-js server for both CRI services. Every RPC in the proto is
// registered: methods with an implementation go through the one wrapper
// (the Stream* list RPCs derive from their List handlers, list-streams.ts),
// the rest answer UNIMPLEMENTED saying so. Request bodies are decoded
// leniently so that garbage becomes INVALID_ARGUMENT from the wrapper
// rather than grpc-js's generic INTERNAL.

import { Server, type MethodDefinition, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { UnavailableError, UnimplementedError } from '../../common/errors';
import type { Logger } from '../log';
import { ENCODED_BY_ENTRY, entryCachingSerializer } from './encode-cache';
import type { HandlerTable } from './handler';
import { listStreams } from './list-streams';
import { imageServiceDefinition, runtimeServiceDefinition } from './proto';
import { MALFORMED, wrapServerStream, wrapUnary, type StreamHandler, type WrapOptions } from './wrap';

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

function implement(service: ServiceDefinition, table: HandlerTable, streams: Record<string, StreamHandler>, opts: WrapOptions, serviceName: string) {
  const impl: UntypedServiceImplementation = {};
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service) as Array<[string, MethodDefinition<unknown, unknown>]>) {
    definition[name] = withEntryCache(name, lenient(method));
    if (method.responseStream && !method.requestStream) {
      const handler = streams[name] ?? unimplementedStream(serviceName, name);
      impl[name] = wrapServerStream(name, handler, opts);
    } else {
      const handler = table[name] ?? unimplemented(serviceName, name);
      impl[name] = wrapUnary(name, handler, opts);
    }
  }
  return { definition: definition as ServiceDefinition, impl };
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

export function createCriServer(impl: CriImplementation, log: Logger): { server: Server; gate: CallGate } {
  const gate = new CallGate();
  const opts: WrapOptions = { log: log.child({ subsystem: 'cri' }), admit: gate.admit };
  // kubelet sends ListContainers responses of many MiB on a busy node; match its 16 MiB limit.
  const server = new Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
  const streams = { ...listStreams(impl), ...impl.streams };
  const rt = implement(runtimeServiceDefinition(), impl.runtime, streams, opts, 'RuntimeService');
  const im = implement(imageServiceDefinition(), impl.image, streams, opts, 'ImageService');
  server.addService(rt.definition, rt.impl);
  server.addService(im.definition, im.impl);
  return { server, gate };
}
