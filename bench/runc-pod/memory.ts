// Stage "memory": with P pods of C running containers on both runtimes at
// once, the RSS and PSS (smaps_rollup) of each runtime's daemon and of every
// helper it runs for the pods (vmpod: a conmon per container and per pod,
// the infra process; containerd: a shim per pod, the pause process), summed
// by role. The containers' own processes are the workload's and left out.
// Read a few times a second apart, after the runtimes settled.

import { setTimeout as sleep } from 'node:timers/promises';
import type { PhaseRow } from '../lib/compare';
import { unavailable } from '../lib/compare';
import type { Workload } from '../lib/cri-workload';
import { formatBytes } from '../lib/format';
import { memoryByRole, type Role, type RoleMemory, type RuntimeProcs } from '../lib/procs';
import { depopulate, populate, type Population } from './population';
import { StageRun, type Side } from './sides';

/** Time for the runtimes to finish what a start leaves behind (log writers, a first GC) before memory is read. */
const SETTLE_MS = 2000;

const ROLES: { role: Role; label: string }[] = [
  { role: 'daemon', label: 'daemon' },
  { role: 'monitor', label: 'monitors (conmon) / shims' },
  { role: 'infra', label: 'infra / pause' },
  { role: 'helper', label: 'other helpers' },
];

/** The first runtime's word for its monitor processes, for the breakdown line. */
const monitorWord = (p: RuntimeProcs) => p.helperComms[0] ?? 'monitor';

export async function memoryStage(
  sides: readonly Side[],
  w: Workload,
  o: { pods: number; containers: number; samples: number },
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const run = new StageRun(sides, stopping);
  const pops = sides.map((): Population => ({ pods: [], containers: [] }));
  const runtimes = sides.map((s) => s.procs).filter((p): p is RuntimeProcs => p !== undefined);
  const reads: Map<string, Map<Role, RoleMemory>>[] = [];
  try {
    await run.round(0, (t, s) => populate(t, w, 'memory', o.pods, o.containers, pops[s]));
    log(`  memory: ${o.pods} pods × ${o.containers} running containers on each side; settling`);
    await sleep(SETTLE_MS);
    for (let i = 0; i < o.samples; i++) {
      run.check();
      if (i > 0) await sleep(1000);
      reads.push(memoryByRole(runtimes));
    }
  } finally {
    for (let s = 0; s < sides.length; s++) if (sides[s].target) await depopulate(sides[s].target!, pops[s]);
  }
  const pick = (f: (byRole: Map<Role, RoleMemory>) => number) =>
    run.outcomes(sides.map((s) => reads.map((r) => f(r.get(s.name) ?? new Map<Role, RoleMemory>()) * 1024))).map((x) => (x.ok && x.samples.length === 0 ? unavailable('no reading') : x));
  const total = (key: 'pssKiB' | 'rssKiB') => (m: Map<Role, RoleMemory>) => [...m.values()].reduce((a, v) => a + v[key], 0);
  const rows: PhaseRow[] = [
    { label: `PSS, daemon + helpers (${o.pods} pods × ${o.containers})`, outcomes: pick(total('pssKiB')) },
    ...ROLES.map((r): PhaseRow => ({ label: `  PSS ${r.label}`, outcomes: pick((m) => m.get(r.role)?.pssKiB ?? 0) })),
    { label: `RSS, daemon + helpers (${o.pods} pods × ${o.containers})`, outcomes: pick(total('rssKiB')) },
    ...ROLES.map((r): PhaseRow => ({ label: `  RSS ${r.label}`, outcomes: pick((m) => m.get(r.role)?.rssKiB ?? 0) })),
  ];
  const last = reads[reads.length - 1];
  const notes = sides.flatMap((s, i) => {
    if (!last || !s.procs || run.failed[i] !== undefined) return [];
    const m = last.get(s.name) ?? new Map<Role, RoleMemory>();
    const part = (role: Role, word: string) => {
      const v = m.get(role);
      return `${word} ×${v?.processes ?? 0} ${formatBytes((v?.pssKiB ?? 0) * 1024)}`;
    };
    return [
      `memory breakdown, ${s.name} (PSS, last reading): ${part('daemon', 'daemon')} / ${part('monitor', monitorWord(s.procs))} / ${part('infra', 'infra or pause')} / ${part('helper', 'other')}`,
    ];
  });
  return { rows, notes: [...notes, `memory: ${reads.length} readings 1 s apart, ${SETTLE_MS / 1000} s after the last container started`] };
}
