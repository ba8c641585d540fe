// Side-by-side comparison of one system against a reference, phase by phase,
// where either side may have failed to produce numbers. A side that could not
// be measured is shown as "not available: <why>" — never as a number.

import { formatMbps, formatMs, formatRatio, renderTable } from './format';
import { summarize, type Summary } from './stats';

export type Outcome = { ok: true; samples: number[] } | { ok: false; reason: string };

export const measured = (samples: number[]): Outcome => ({ ok: true, samples });
export const unavailable = (reason: string): Outcome => ({ ok: false, reason });

export interface PhaseRow {
  label: string;
  /** One outcome per compared system, in the column order. */
  outcomes: Outcome[];
}

/** The median of an outcome, or undefined when it has no samples. */
export function medianOf(o: Outcome): number | undefined {
  return o.ok && o.samples.length > 0 ? summarize(o.samples).median : undefined;
}

export function summaryOf(o: Outcome): Summary | undefined {
  return o.ok && o.samples.length > 0 ? summarize(o.samples) : undefined;
}

/** How a table's numbers read: durations (the default) or throughput. */
export interface ComparisonFormat {
  /** Formats one value with its unit. */
  value: (v: number) => string;
  /** Adds the spread of each cell: `median (min–p90, n=N)`. */
  spread?: boolean;
}

export const MS: ComparisonFormat = { value: formatMs };
export const MBPS: ComparisonFormat = { value: formatMbps };

function cell(o: Outcome, f: ComparisonFormat): string {
  if (!o.ok) return 'not available';
  if (o.samples.length === 0) return 'no samples';
  const s = summarize(o.samples);
  return f.spread ? `${f.value(s.median)} (${f.value(s.min)}–${f.value(s.p90)}, n=${s.n})` : `${f.value(s.median)} (n=${s.n})`;
}

/**
 * A table of medians, one column per system, and a last column with the
 * ratio first / second (e.g. vmpod / containerd). Reasons for missing sides
 * are listed under the table, once each. `format` picks the unit (ms by
 * default, MB/s for throughput, where a ratio above 1 is the faster side)
 * and whether each cell shows its min–p90 spread.
 */
export function renderComparison(systems: readonly string[], rows: readonly PhaseRow[], format: ComparisonFormat = MS): string {
  if (systems.length < 2) throw new RangeError('a comparison needs at least two systems');
  const header = [format.spread ? 'phase: median (min–p90)' : 'phase (median)', ...systems, `${systems[0]} / ${systems[1]}`];
  const body = rows.map((r) => [r.label, ...r.outcomes.map((o) => cell(o, format)), formatRatio(medianOf(r.outcomes[0]), medianOf(r.outcomes[1]))]);
  const notes: string[] = [];
  systems.forEach((name, i) => {
    const reasons = new Set(
      rows
        .map((r) => r.outcomes[i])
        .filter((o): o is { ok: false; reason: string } => o !== undefined && !o.ok)
        .map((o) => o.reason),
    );
    for (const reason of reasons) notes.push(`${name}: not available: ${reason}`);
  });
  return [renderTable(header, body), ...(notes.length ? ['', ...notes] : [])].join('\n');
}
