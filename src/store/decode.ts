// Shared checks of records read from disk: they may come from any earlier
// vmpod version, or from a disk that went bad.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `raw` as an object with the named string and object fields, else an Error naming what is wrong. */
export function checkRecord(raw: unknown, kind: string, strings: readonly string[], objects: readonly string[]): Record<string, unknown> {
  if (!isObject(raw)) throw new Error(`${kind} record is not a JSON object`);
  for (const f of strings) if (typeof raw[f] !== 'string') throw new Error(`${kind} record has no string "${f}"`);
  for (const f of objects) if (!isObject(raw[f])) throw new Error(`${kind} record has no object "${f}"`);
  return raw;
}
