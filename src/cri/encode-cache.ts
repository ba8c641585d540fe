// The List responses kubelet asks for every second, encoded from parts kept
// per list entry. protobufjs's fromObject + encode of 200 containers was the
// largest single cost of ListContainers (issue 18 profile), and it encoded
// the same entries again on every call.
//
// Why concatenation is the same message: in the protobuf wire format a
// repeated message field is one (tag, length, bytes) record per element, and
// a message holding only field 1 is exactly that sequence. So the encoding
// of `{ [field]: [a, b, c] }` is the encodings of `{ [field]: [a] }`,
// `{ [field]: [b] }` and `{ [field]: [c] }` one after the other, byte for
// byte as the stock serializer writes it (unit-tested). Only frozen entries
// are kept (the handlers' cached messages, runtime/message-cache.ts): an
// entry that could change under its key is encoded every time. A response
// with anything besides the one field is left to the stock serializer.

/** Server-side responses served this way: method → its repeated field, which must be field number 1 of the response. */
export const ENCODED_BY_ENTRY: Readonly<Record<string, string>> = {
  ListContainers: 'containers',
  StreamContainers: 'containers',
  ListPodSandbox: 'items',
  StreamPodSandboxes: 'pod_sandboxes',
};

/** `serialize` (grpc-js's stock response serializer) with each frozen entry of `field` encoded once per server. */
export function entryCachingSerializer(serialize: (value: unknown) => Buffer, field: string): (value: unknown) => Buffer {
  const encoded = new WeakMap<object, Buffer>();
  const entry = (e: unknown): Buffer => {
    if (typeof e !== 'object' || e === null || !Object.isFrozen(e)) return serialize({ [field]: [e] });
    let b = encoded.get(e);
    if (!b) {
      b = serialize({ [field]: [e] });
      encoded.set(e, b);
    }
    return b;
  };
  return (value) => {
    const v = value as Record<string, unknown> | null | undefined;
    const list = v?.[field];
    if (!v || !Array.isArray(list) || Object.keys(v).some((k) => k !== field)) return serialize(value);
    return Buffer.concat(list.map(entry));
  };
}
