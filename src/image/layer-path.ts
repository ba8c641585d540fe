// Path rules for layer tar entries. Pure, so that every escape attempt can be
// unit-tested without unpacking anything.

export class UnsafeLayerError extends Error {
  override name = 'UnsafeLayerError';
}

/**
 * The components of a tar entry name inside the layer root, or an error when
 * the name could reach outside it. `./` prefixes and empty components are
 * dropped; `..` anywhere and absolute names are refused outright (a tool
 * that wants `/x` in the image writes `x` or `./x`). [] is the root itself.
 */
export function entryComponents(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw new UnsafeLayerError(`${what} "${name}" contains a NUL byte`);
  if (name.startsWith('/')) throw new UnsafeLayerError(`${what} "${name}" is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(`${what} "${name}" has a ".." component that could escape the layer`);
  return parts;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type WhiteoutKind = { kind: 'opaque' } | { kind: 'whiteout'; name: string } | { kind: 'meta' } | null;

/** OCI image-spec layer.md whiteouts; `.wh..wh.*` other than the opaque marker is AUFS metadata to skip. */
export function whiteoutOf(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return null;
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith('.wh..wh.')) return { kind: 'meta' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') throw new UnsafeLayerError(`whiteout "${base}" names no file`);
  return { kind: 'whiteout', name };
}

/** Quote a string for POSIX sh so that any byte but NUL passes through unchanged. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Resolve a symlink target found at `<parentParts>/<link>` inside the image
 * root: absolute targets start at the root, `..` stops at the root (as
 * securejoin does), so the result never leaves the image.
 */
export function resolveInRoot(parentParts: string[], target: string): string[] {
  const out = target.startsWith('/') ? [] : [...parentParts];
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}
