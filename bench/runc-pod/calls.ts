// Stage "calls": what one small CRI call costs, with nothing on either
// runtime: Version and ListPodSandbox (no pods), back to back and 100 ms
// apart (kubelet calls about once a second, so the daemon is usually idle
// when a call arrives), the runtimes alternating round by round. Beside
// them, in the same rounds, a null gRPC server on Node's own HTTP/2
// (bench/lib/null-http2-server.ts): the floor under any server written on
// Node, printed as a note with its ratio to containerd. Last, the server
// process's own CPU time per Version call, over CPU_CALLS calls back to back
// per side and round (/proc/<pid>/stat; the kernel counts in clock ticks,
// so one call is too short to time alone).

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { criClient } from '../../test/helpers/cri-client';
import type { Cleanup } from '../lib/cleanup';
import type { PhaseRow } from '../lib/compare';
import { CALL_DEADLINE_MS, type CriTarget } from '../lib/cri-workload';
import { formatMs, formatRatio } from '../lib/format';
import { startNullHttp2Server } from '../lib/null-http2-server';
import { clockTicks, parseStat } from '../lib/procs';
import { median } from '../lib/stats';
import { StageRun, timeInto, type Side } from './sides';

/** Idle time before each timed call, ms: back to back, and as a daemon that kubelet calls now and then sees it. */
const GAPS = [0, 100] as const;
const CALLS = ['Version', 'ListPodSandbox'] as const;
type Call = (typeof CALLS)[number];
type Key = `${Call}@${(typeof GAPS)[number]}`;
const KEYS: Key[] = CALLS.flatMap((c) => GAPS.map((g): Key => `${c}@${g}`));

/** Version calls per side and round for the CPU row: 1000 calls at ~0.5 ms of CPU each are ~50 clock ticks. */
const CPU_CALLS = 1000;

/** CPU time of `pid` so far (its own and its reaped children's), ms. */
function cpuMs(pid: number): number {
  return (parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuTicks * 1000) / clockTicks();
}

const callOf = (t: CriTarget, c: Call): Promise<unknown> => (c === 'Version' ? t.client.runtime.Version({}, CALL_DEADLINE_MS) : t.client.runtime.ListPodSandbox({}, CALL_DEADLINE_MS));

export async function callsStage(
  sides: readonly Side[],
  o: { rounds: number; calls: number; work: string },
  cleanup: Cleanup,
  log: (s: string) => void,
  stopping: () => boolean,
): Promise<{ rows: PhaseRow[]; notes: string[] }> {
  const nullServer = await startNullHttp2Server(join(o.work, 'null-http2.sock'));
  cleanup.add('stop the null HTTP/2 server', () => nullServer.stop());
  const nullClient = criClient(nullServer.socket);
  cleanup.add('close the null server client', () => nullClient.close());
  const floor: Side = { name: 'null Node.js HTTP/2 server', target: { name: 'null', client: nullClient, version: 'node:http2' } };
  // The floor goes through the same rounds as the runtimes, so a change of the machine's load lands on all three.
  const all = [...sides, floor];
  const run = new StageRun(all, stopping);
  const samples = all.map(() => Object.fromEntries(KEYS.map((k) => [k, [] as number[]])) as Record<Key, number[]>);
  // Warm-up: connections and JIT on every side.
  await run.round(0, async (t) => {
    for (let i = 0; i < 50; i++) for (const c of CALLS) await callOf(t, c);
  });
  for (let r = 0; r < o.rounds; r++) {
    for (const gap of GAPS) {
      await run.round(r, async (t, s) => {
        for (let i = 0; i < o.calls; i++) {
          for (const c of CALLS) {
            if (gap) await sleep(gap);
            await timeInto(samples[s][`${c}@${gap}`], () => callOf(t, c));
          }
        }
      });
    }
    log(`  calls round ${r + 1}/${o.rounds} done`);
  }
  const pids = all.map((s) => (s === floor ? nullServer.pid : s.procs?.daemonPid));
  const cpu = all.map(() => [] as number[]);
  for (let r = 0; r < o.rounds; r++) {
    await run.round(r, async (t, s) => {
      const pid = pids[s];
      if (pid === undefined) return;
      const before = cpuMs(pid);
      for (let i = 0; i < CPU_CALLS; i++) await t.client.runtime.Version({}, CALL_DEADLINE_MS);
      cpu[s].push((cpuMs(pid) - before) / CPU_CALLS);
    });
  }
  const label = (k: Key): string => {
    const [c, g] = k.split('@');
    return `${c}${c === 'ListPodSandbox' ? ' (no pods)' : ''}, ${g === '0' ? 'back to back' : `${g} ms apart`}`;
  };
  const floorIndex = all.length - 1;
  const containerd = sides.findIndex((s) => s.name === 'containerd' && run.failed[sides.indexOf(s)] === undefined);
  return {
    rows: [
      ...KEYS.map((k): PhaseRow => ({ label: label(k), outcomes: run.outcomes(samples.map((x) => x[k])).slice(0, sides.length) })),
      { label: `server CPU per Version call (${CPU_CALLS} back to back)`, outcomes: run.outcomes(cpu).slice(0, sides.length) },
    ],
    notes: [
      run.failed[floorIndex] !== undefined
        ? `null Node.js HTTP/2 server: failed: ${run.failed[floorIndex]}`
        : `null Node.js HTTP/2 server (node:http2 on the socket's native handle, no grpc-js, empty answers), same rounds: ${KEYS.map((k) => {
            const m = median(samples[floorIndex][k]);
            const c = containerd >= 0 ? median(samples[containerd][k]) : undefined;
            return `${label(k)} ${formatMs(m)}${c === undefined ? '' : ` (${formatRatio(m, c)} containerd)`}`;
          }).join('; ')}; its CPU per Version call ${formatMs(median(cpu[floorIndex]))}${containerd >= 0 ? ` (${formatRatio(median(cpu[floorIndex]), median(cpu[containerd]))} containerd)` : ''}`,
    ],
  };
}
