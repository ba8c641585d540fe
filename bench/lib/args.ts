// The command line every bench shares: `--runs N`, `--json FILE`, `--help`,
// plus the bench's own integer/string/boolean options. A single bare integer
// is taken as the run count, so `node bench/x.js 5` keeps working.

import { parseArgs } from 'node:util';

export interface IntOption {
  default: number;
  min?: number;
  max?: number;
  help: string;
}
export interface StringOption {
  default?: string;
  help: string;
}
export interface BoolOption {
  help: string;
}

export interface BenchArgSpec<I extends string, S extends string, B extends string> {
  /** One line saying what the bench measures (first line of --help). */
  description: string;
  defaultRuns: number;
  ints?: Record<I, IntOption>;
  strings?: Record<S, StringOption>;
  bools?: Record<B, BoolOption>;
}

export interface BenchArgs<I extends string, S extends string, B extends string> {
  runs: number;
  /** Where to write the machine-readable result, if asked. */
  json?: string;
  help: boolean;
  ints: Record<I, number>;
  strings: Record<S, string | undefined>;
  bools: Record<B, boolean>;
}

export class BenchArgsError extends Error {}

function parseInt10(name: string, raw: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(raw)) throw new BenchArgsError(`--${name}: "${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new BenchArgsError(`--${name}: ${n} is outside [${min}, ${max}]`);
  return n;
}

export function benchUsage(program: string, spec: BenchArgSpec<string, string, string>): string {
  const lines = [
    spec.description,
    '',
    `usage: node ${program} [--runs N] [--json FILE] [options]`,
    '',
    `  --runs N         samples per measurement (default ${spec.defaultRuns})`,
    '  --json FILE      also write the results as JSON to FILE',
  ];
  for (const [k, o] of Object.entries<IntOption>(spec.ints ?? {})) lines.push(`  --${`${k} N`.padEnd(15)} ${o.help} (default ${o.default})`);
  for (const [k, o] of Object.entries<StringOption>(spec.strings ?? {})) lines.push(`  --${`${k} S`.padEnd(15)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`);
  for (const [k, o] of Object.entries<BoolOption>(spec.bools ?? {})) lines.push(`  --${k.padEnd(15)} ${o.help}`);
  lines.push('  --help           this text');
  return lines.join('\n');
}

/** Parses argv (without node and the script); throws BenchArgsError on anything unknown or malformed. */
export function parseBenchArgs<I extends string = never, S extends string = never, B extends string = never>(argv: readonly string[], spec: BenchArgSpec<I, S, B>): BenchArgs<I, S, B> {
  const ints = (spec.ints ?? {}) as Record<I, IntOption>;
  const strings = (spec.strings ?? {}) as Record<S, StringOption>;
  const bools = (spec.bools ?? {}) as Record<B, BoolOption>;
  const options: Record<string, { type: 'string' | 'boolean' }> = { runs: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' } };
  for (const k of Object.keys(ints)) options[k] = { type: 'string' };
  for (const k of Object.keys(strings)) options[k] = { type: 'string' };
  for (const k of Object.keys(bools)) options[k] = { type: 'boolean' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new BenchArgsError((err as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (parsed.positionals.length > 1) throw new BenchArgsError(`unexpected arguments: ${parsed.positionals.join(' ')}`);
  const positionalRuns = parsed.positionals[0];
  if (positionalRuns !== undefined && v.runs !== undefined) throw new BenchArgsError('give the run count once: either --runs N or a bare N');
  const runsRaw = (v.runs as string | undefined) ?? positionalRuns;
  const runs = runsRaw === undefined ? spec.defaultRuns : parseInt10('runs', runsRaw);
  const json = v.json as string | undefined;
  if (json === '') throw new BenchArgsError('--json: needs a file name');
  const outInts = {} as Record<I, number>;
  for (const [k, o] of Object.entries(ints) as [I, IntOption][]) {
    const raw = v[k] as string | undefined;
    outInts[k] = raw === undefined ? o.default : parseInt10(k, raw, o.min ?? 0, o.max);
  }
  const outStrings = {} as Record<S, string | undefined>;
  for (const [k, o] of Object.entries(strings) as [S, StringOption][]) outStrings[k] = (v[k] as string | undefined) ?? o.default;
  const outBools = {} as Record<B, boolean>;
  for (const k of Object.keys(bools) as B[]) outBools[k] = v[k] === true;
  return { runs, json, help: v.help === true, ints: outInts, strings: outStrings, bools: outBools };
}

/**
 * What every bench does with its arguments: parsed, or a usage already
 * written and the exit code to return (2 for a bad argument, 0 for --help).
 */
export function parseOrUsage<I extends string = never, S extends string = never, B extends string = never>(
  program: string,
  spec: BenchArgSpec<I, S, B>,
  argv: readonly string[],
): { args: BenchArgs<I, S, B> } | { exit: number } {
  let args: BenchArgs<I, S, B>;
  try {
    args = parseBenchArgs(argv, spec);
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    process.stderr.write(`${err.message}\n\n${benchUsage(program, spec)}\n`);
    return { exit: 2 };
  }
  if (args.help) {
    process.stdout.write(`${benchUsage(program, spec)}\n`);
    return { exit: 0 };
  }
  return { args };
}
