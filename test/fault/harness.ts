// Fault injection: SIGKILL the real daemon at evenly spaced offsets into one
// CRI operation, start it again on the same root, and check what issue 16
// asks of a restart:
//
//  1. every pod that was ready is still ready, and its container still runs
//     and answers ExecSync (a "survivor" pod made before the first kill);
//  2. the interrupted object is complete, or absent, or else NotReady (for a
//     container: exited) and removable. Complete means usable: a pod takes a
//     container, a created container starts, a running one answers exec;
//  3. once everything is removed and the daemon stopped, nothing is left
//     (leaks.ts).
//
// The offsets: the operation is timed once without a kill (duration D), then
// trial k of N kills at (k + 0.5) / N * D after the call was sent, so the
// kills spread over the whole call, its first and last steps included.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { CriClient } from '../helpers/cri-client';
import { FaultDaemon } from './daemon';
import { baseline, mountsUnder, pidsNaming, removeVmRunDirs, scanLeaks } from './leaks';

export const IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
export const OPERATIONS = ['runp', 'create', 'start', 'stopp', 'rmp'] as const;
export type Operation = (typeof OPERATIONS)[number];
export type Handler = 'runc' | 'vm';

/** Long enough for a VM boot under TCG on a loaded 2-core machine. */
const CALL_MS = 240_000;
const CTR_NAME = 'work';

export function podConfig(handler: Handler, name: string, logDir: string): PodSandboxConfig {
  return {
    metadata: { name, namespace: 'fault', uid: `${name}-uid`, attempt: 0 },
    annotations: handler === 'vm' ? { 'io.kubernetes.cri.untrusted-workload': 'true' } : {},
    log_directory: join(logDir, name),
    linux: {},
  };
}

export function containerConfig(): ContainerConfig {
  return { metadata: { name: CTR_NAME }, image: { image: IMAGE }, command: ['/bin/sh', '-c', 'exec sleep 3600'], log_path: 'work.log', linux: {} };
}

/** What is there before the operation runs: its target pod and container, as far as they exist. */
/** The pod (and container) an operation acts on. */
export interface Target {
  handler: Handler;
  name: string;
  pod?: string;
  ctr?: string;
}

/** Make the target's pod and container as far as `steps` goes (1 runp, 2 create, 3 start). */
export async function prepareTarget(c: CriClient, t: Target, logDir: string, steps: number, callMs: number): Promise<Target> {
  const pc = podConfig(t.handler, t.name, logDir);
  if (steps >= 1) t.pod = (await c.runtime.RunPodSandbox({ config: pc }, callMs)).pod_sandbox_id;
  if (steps >= 2) t.ctr = (await c.runtime.CreateContainer({ pod_sandbox_id: t.pod, config: containerConfig(), sandbox_config: pc }, callMs)).container_id;
  if (steps >= 3) await c.runtime.StartContainer({ container_id: t.ctr }, callMs);
  return t;
}

/** Send `op` for the target. */
export function callOperation(c: CriClient, op: Operation, t: Target, logDir: string, callMs: number): Promise<unknown> {
  const pc = podConfig(t.handler, t.name, logDir);
  switch (op) {
    case 'runp':
      return c.runtime.RunPodSandbox({ config: pc }, callMs);
    case 'create':
      return c.runtime.CreateContainer({ pod_sandbox_id: t.pod, config: containerConfig(), sandbox_config: pc }, callMs);
    case 'start':
      return c.runtime.StartContainer({ container_id: t.ctr }, callMs);
    case 'stopp':
      return c.runtime.StopPodSandbox({ pod_sandbox_id: t.pod }, callMs);
    case 'rmp':
      return c.runtime.RemovePodSandbox({ pod_sandbox_id: t.pod }, callMs);
  }
}

/** An ExecSync of `echo alive` in the container answers as it should, or the problem. */
export async function execProblem(c: CriClient, ctr: string, what: string, callMs: number): Promise<string[]> {
  const r = await c.runtime.ExecSync({ container_id: ctr, cmd: ['echo', 'alive'], timeout: 60 }, callMs);
  return r.exit_code === 0 && r.stdout.toString() === 'alive\n' ? [] : [`${what}: exec answered ${r.exit_code} "${r.stdout.toString()}" "${r.stderr.toString()}"`];
}

/** From `stage` (0 pod only, 1 created container, 2 running), bring the pod to a running container and exec in it. */
export async function usableProblems(c: CriClient, t: Target, stage: number, logDir: string, callMs: number): Promise<string[]> {
  let ctr = t.ctr;
  const pc = podConfig(t.handler, t.name, logDir);
  if (stage < 1) ctr = (await c.runtime.CreateContainer({ pod_sandbox_id: t.pod, config: containerConfig(), sandbox_config: pc }, callMs)).container_id;
  if (stage < 2) await c.runtime.StartContainer({ container_id: ctr }, callMs);
  return execProblem(c, ctr!, `container of ${t.name}`, callMs);
}

/** Stop and remove every pod named `name`; each failure is a problem (the object must be removable). */
export async function removePodsNamed(c: CriClient, name: string, callMs: number): Promise<string[]> {
  const out: string[] = [];
  for (const p of (await c.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.name === name)) {
    try {
      await c.runtime.StopPodSandbox({ pod_sandbox_id: p.id }, callMs);
      await c.runtime.RemovePodSandbox({ pod_sandbox_id: p.id }, callMs);
    } catch (err) {
      out.push(`removing pod ${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** How far an operation's target is made before it: the steps of prepareTarget. */
export const STEPS_BEFORE: Record<Operation, number> = { runp: 0, create: 1, start: 2, stopp: 3, rmp: 3 };

export class FaultRig {
  readonly daemon: FaultDaemon;
  private readonly logDir: string;
  private before = new Set<string>();
  private survivor: Target | undefined;
  private seq = 0;

  constructor(readonly handler: Handler) {
    const dir = mkdtempSync(join(tmpdir(), `vmpod-fault-${handler}-`));
    this.daemon = new FaultDaemon(dir);
    this.logDir = join(dir, 'logs');
  }

  get dir(): string {
    return this.daemon.dir;
  }

  private get c(): CriClient {
    return this.daemon.client;
  }

  /** Start the daemon, pull the image, note what exists before any pod, make the survivor pod. */
  async setup(survivorHandler: Handler): Promise<void> {
    await this.daemon.start();
    await this.c.image.PullImage({ image: { image: IMAGE } }, CALL_MS);
    this.before = baseline(this.daemon.root, this.daemon.state);
    this.survivor = await this.prepare(survivorHandler, 'survivor', 3);
  }

  private prepare(handler: Handler, name: string, steps: number): Promise<Target> {
    return prepareTarget(this.c, { handler, name }, this.logDir, steps, CALL_MS);
  }

  private call(op: Operation, t: Target): Promise<unknown> {
    return callOperation(this.c, op, t, this.logDir, CALL_MS);
  }

  /** Run the operation once, without a kill: its duration in ms. What it made is removed. */
  async measure(op: Operation): Promise<number> {
    const t = await this.prepare(this.handler, `measure-${this.seq++}`, STEPS_BEFORE[op]);
    const t0 = performance.now();
    await this.call(op, t);
    const ms = performance.now() - t0;
    await this.removeByName(t.name);
    return ms;
  }

  /**
   * One trial: prepare the target, send the call, SIGKILL the daemon `offsetMs`
   * later, restart, check. Returns what is wrong (empty: nothing).
   */
  async trial(op: Operation, offsetMs: number): Promise<string[]> {
    const t = await this.prepare(this.handler, `${op}-${this.seq++}`, STEPS_BEFORE[op]);
    const pending = this.call(op, t).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, offsetMs));
    await this.daemon.kill();
    const callEnded = await pending;
    await this.daemon.start();
    const problems = [...(await this.checkSurvivor()), ...(await this.checkInterrupted(op, t))];
    problems.push(...(await this.removeByName(t.name)));
    if (problems.length && process.env.VMPOD_FAULT_LOGS) this.keepLogs(process.env.VMPOD_FAULT_LOGS, t.name);
    return problems.map((p) => `${op} killed at ${Math.round(offsetMs)} ms (call ${callEnded}): ${p}`);
  }

  /** With VMPOD_FAULT_LOGS=<dir>: the killed daemon's log and its successor's, for a trial that found something. */
  private keepLogs(dir: string, name: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${this.handler}-${name}.killed.log`), this.daemon.previousLog);
    writeFileSync(join(dir, `${this.handler}-${name}.restarted.log`), this.daemon.log());
  }

  private async checkSurvivor(): Promise<string[]> {
    const s = this.survivor!;
    const out: string[] = [];
    try {
      const ps = await this.c.runtime.PodSandboxStatus({ pod_sandbox_id: s.pod }, CALL_MS);
      if (ps.status?.state !== 'SANDBOX_READY') out.push(`survivor pod is ${ps.status?.state}`);
      const cs = await this.c.runtime.ContainerStatus({ container_id: s.ctr }, CALL_MS);
      if (cs.status?.state !== 'CONTAINER_RUNNING') out.push(`survivor container is ${cs.status?.state}`);
      else out.push(...(await this.execProblem(s.ctr!, 'survivor container')));
    } catch (err) {
      out.push(`survivor: ${(err as Error).message}`);
    }
    return out;
  }

  private execProblem(ctr: string, what: string): Promise<string[]> {
    return execProblem(this.c, ctr, what, CALL_MS);
  }

  /** Condition 2 for the object the call was about. */
  private async checkInterrupted(op: Operation, t: Target): Promise<string[]> {
    const pods = (await this.c.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.name === t.name);
    if (pods.length > 1) return [`${pods.length} pods named ${t.name}`];
    const pod = pods[0];
    const out: string[] = [];
    try {
      if (op === 'runp') {
        // Complete: ready and takes a running container that answers.
        if (pod?.state === 'SANDBOX_READY') out.push(...(await this.usable({ ...t, pod: pod.id }, 0)));
      } else if (op === 'rmp' || op === 'stopp') {
        // Not applied yet (still there) or applied: either way stopping and removing must work.
        if (op === 'stopp' && !pod) out.push('StopPodSandbox removed the pod');
        if (pod) await this.c.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, CALL_MS);
        if (pod && (await this.c.runtime.PodSandboxStatus({ pod_sandbox_id: pod.id })).status?.state !== 'SANDBOX_NOTREADY') out.push('pod is not NotReady after StopPodSandbox');
      } else {
        if (!pod || pod.state !== 'SANDBOX_READY') return [`the pod of the ${op} is ${pod?.state ?? 'gone'}`];
        const ctrs = (await this.c.runtime.ListContainers({ filter: { pod_sandbox_id: pod.id } })).containers;
        if (ctrs.length > 1) out.push(`${ctrs.length} containers in pod ${t.name}`);
        const ctr = ctrs[0];
        if (op === 'create' && !ctr) return out; // absent
        if (!ctr) return [...out, 'the container to start is gone'];
        if (ctr.state === 'CONTAINER_EXITED') return out; // NotReady; removal is checked by removeByName
        out.push(...(await this.usable({ ...t, pod: pod.id, ctr: ctr.id }, ctr.state === 'CONTAINER_RUNNING' ? 2 : 1)));
      }
    } catch (err) {
      out.push(`${(err as Error).message}`);
    }
    return out;
  }

  private usable(t: Target, stage: number): Promise<string[]> {
    return usableProblems(this.c, t, stage, this.logDir, CALL_MS);
  }

  /** Stop and remove every pod named `name`; each failure is a problem (the object must be removable). */
  private async removeByName(name: string): Promise<string[]> {
    const out = await removePodsNamed(this.c, name, CALL_MS);
    const left = (await this.c.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.name !== 'survivor').map((p) => p.metadata?.name);
    if (left.length) out.push(`pods left besides the survivor: ${left.join(', ')}`);
    return out;
  }

  /** Remove the survivor, stop the daemon, and list what leaked. The directory is removed when nothing is mounted in it. */
  async finish(): Promise<string[]> {
    const out = this.survivor ? await this.removeByName('survivor') : [];
    const code = await this.daemon.stop();
    if (code !== 0) out.push(`daemon exited ${code} on SIGTERM`);
    out.push(...scanLeaks({ dir: this.dir, root: this.daemon.root, state: this.daemon.state, before: this.before }));
    return out;
  }

  /**
   * After finish(), or after a run that died half-way (a daemon that would not
   * start again): end what our daemons started here (QEMU, conmon: each names
   * this directory; by PID), unmount what is mounted under it, remove it.
   */
  dispose(): void {
    for (const pid of pidsNaming(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const m of mountsUnder(this.dir, [])
      .map((l) => l.slice('mount '.length))
      .reverse())
      spawnSync('umount', ['-l', m]);
    removeVmRunDirs(this.daemon.state);
    if (mountsUnder(this.dir, []).length === 0) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Offsets (ms) of n kills spread evenly over an operation that took `durationMs`. */
export function offsets(durationMs: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => ((k + 0.5) / n) * durationMs);
}
