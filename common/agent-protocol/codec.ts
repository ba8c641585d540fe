// Encoding of AgentService messages, shared by the host client and the
// in-guest agent. We parse the embedded .proto text (common/generated/agent) with
// protobufjs when the module loads instead of shipping static generated codecs: one
// source of truth, no code generator in the guest, and the agent bundle needs
// no file next to it. Parsing the ~300-line file takes a few milliseconds.

import * as protobuf from 'protobufjs';
import { AGENT_METHOD_TYPES, AGENT_PROTO_TEXT, AgentMethodName, AgentMethods } from '../generated/agent/agent';

const ROOT = protobuf.parse(AGENT_PROTO_TEXT, { keepCase: true }).root;

function typeOf(fullName: string): protobuf.Type {
  // protobufjs caches lookups in the root itself.
  return ROOT.lookupType(fullName);
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true, objects: true };

/** A message is malformed protobuf (never a bug of ours: it came off the wire). */
export class MessageDecodeError extends Error {
  override name = 'MessageDecodeError';
}

export function encodeMessage(fullName: string, value: object): Uint8Array {
  const t = typeOf(fullName);
  return t.encode(t.fromObject(value)).finish();
}

export function decodeMessage<T>(fullName: string, bytes: Uint8Array): T {
  const t = typeOf(fullName);
  try {
    return t.toObject(t.decode(bytes), TO_OBJECT) as T;
  } catch (err) {
    throw new MessageDecodeError(`${fullName}: ${(err as Error).message}`);
  }
}

/** Reflection for the response validator. */
export function messageType(fullName: string): protobuf.Type {
  return typeOf(fullName);
}

/** Request input: any field may be left out (proto3 defaults), at every depth. */
export type DeepPartial<T> = T extends Uint8Array ? T : T extends Array<infer U> ? Array<DeepPartial<U>> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> | null } : T;

export type RequestOf<M extends AgentMethodName> = AgentMethods[M]['request'];
export type ResponseOf<M extends AgentMethodName> = AgentMethods[M]['response'];

export const encodeRequest = <M extends AgentMethodName>(m: M, v: DeepPartial<RequestOf<M>>): Uint8Array => encodeMessage(AGENT_METHOD_TYPES[m].request, v);
export const decodeRequest = <M extends AgentMethodName>(m: M, b: Uint8Array): RequestOf<M> => decodeMessage(AGENT_METHOD_TYPES[m].request, b);
export const encodeResponse = <M extends AgentMethodName>(m: M, v: DeepPartial<ResponseOf<M>>): Uint8Array => encodeMessage(AGENT_METHOD_TYPES[m].response, v);
export const decodeResponse = <M extends AgentMethodName>(m: M, b: Uint8Array): ResponseOf<M> => decodeMessage(AGENT_METHOD_TYPES[m].response, b);
