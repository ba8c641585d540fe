// Plain-text output for benchmarks: durations, ratios and aligned tables,
// so every bench prints numbers the same way and docs/performance.md can
// quote them as they are.

/** `0.42 ms`, `12.3 ms`, `842 ms`, `1.24 s`, `63.0 s`: three significant digits, unit chosen for the size. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const abs = Math.abs(ms);
  if (abs >= 1000) return `${(ms / 1000).toFixed(abs >= 10_000 ? 1 : 2)} s`;
  if (abs >= 100) return `${ms.toFixed(0)} ms`;
  if (abs >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** Throughput in MB/s (10^6 bytes): `0.82 MB/s`, `38.7 MB/s`, `505 MB/s`. */
export function formatMbps(mbps: number): string {
  if (!Number.isFinite(mbps)) return String(mbps);
  const abs = Math.abs(mbps);
  return `${abs >= 100 ? mbps.toFixed(0) : abs >= 10 ? mbps.toFixed(1) : mbps.toFixed(2)} MB/s`;
}

/** `a / b` as `2.41x`; `n/a` when either side is missing or the divisor is not positive. */
export function formatRatio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return 'n/a';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

/** Binary sizes: `512 B`, `3.4 KiB`, `118 MiB`, `1.20 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v} B`;
  return `${Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

export type Align = 'left' | 'right';

/**
 * An aligned text table: a header row, a rule, then the rows. Columns are
 * right-aligned unless told otherwise (numbers read best that way), except
 * the first, which holds labels. Rows shorter than the header are padded.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const cols = header.length;
  const cells = [header, ...rows].map((r) => Array.from({ length: cols }, (_, i) => r[i] ?? ''));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(...cells.map((r) => r[i].length)));
  const alignOf = (i: number): Align => align?.[i] ?? (i === 0 ? 'left' : 'right');
  const line = (r: string[]) =>
    r
      .map((c, i) => (alignOf(i) === 'left' ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}
