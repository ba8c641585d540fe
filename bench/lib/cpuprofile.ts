// Where a daemon's CPU went, from a V8 .cpuprofile (`node --cpu-prof`; the
// benches pass it to vmpod with VMPOD_DAEMON_NODE_ARGS): self and inclusive
// time per function, optionally over a window of the run only (after the
// last sample whose stack matches `from`, before the next one matching `to`:
// e.g. the list rounds of bench/runc-pod between the last StartContainer and
// the first StopPodSandbox) and over the samples whose stack matches `only`.
// Pure; bench/cpuprofile-top.ts prints it.

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  /** Microseconds before each sample (the first is from startTime). */
  timeDeltas: number[];
}

export interface ProfileQuery {
  from?: RegExp;
  to?: RegExp;
  only?: RegExp;
}

export interface ProfileSummary {
  /** Milliseconds in the window, and of those in samples `only` kept. */
  windowMs: number;
  keptMs: number;
  /** Function key → milliseconds, largest first. */
  self: Array<[string, number]>;
  inclusive: Array<[string, number]>;
}

/** `name file:line`, the file shortened to what follows node_modules/ or dist/. */
export function frameKey(n: CpuProfileNode): string {
  const url = n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
}

export function summarizeProfile(p: CpuProfile, q: ProfileQuery = {}): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<number, string[]>();
  const stackOf = (leaf: number): string[] => {
    let s = stacks.get(leaf);
    if (!s) {
      s = [];
      for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) s.push(frameKey(byId.get(id)!));
      stacks.set(leaf, s);
    }
    return s;
  };
  // A sample's time is the delta before the next one.
  const ms = (i: number): number => (p.timeDeltas[i + 1] ?? 0) / 1000;
  const matches = (i: number, re: RegExp): boolean => stackOf(p.samples[i]).some((k) => re.test(k));
  let lo = 0;
  let hi = p.samples.length;
  if (q.from) for (let i = 0; i < p.samples.length; i++) if (matches(i, q.from)) lo = i + 1;
  if (q.to)
    for (let i = lo; i < p.samples.length; i++)
      if (matches(i, q.to)) {
        hi = i;
        break;
      }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let windowMs = 0;
  let keptMs = 0;
  for (let i = lo; i < hi; i++) {
    const t = ms(i);
    windowMs += t;
    if (q.only && !matches(i, q.only)) continue;
    keptMs += t;
    const stack = stackOf(p.samples[i]);
    self.set(stack[0], (self.get(stack[0]) ?? 0) + t);
    for (const k of new Set(stack)) inclusive.set(k, (inclusive.get(k) ?? 0) + t);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { windowMs, keptMs, self: sorted(self), inclusive: sorted(inclusive) };
}
