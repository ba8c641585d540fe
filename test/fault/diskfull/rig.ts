// Disk full at each write (issue 16), against the real daemon: its root
// (records, CNI cache, container rootfs dirs, image content, vsock CIDs) is a
// small loop-mounted ext4 and its state a small tmpfs. For one operation at a
// time the rig leaves exactly N bytes free, sends the call and checks:
//
//  1. the call succeeds, or fails RESOURCE_EXHAUSTED naming the object it was
//     about (never UNKNOWN, never only an id the caller was not given; INTERNAL
//     only with a child process's own "no space left on device");
//  2. the daemon still answers while the disk is full;
//  3. once the space is back, the ready pod made before the sweep (the
//     survivor) is still ready and its container answers exec, and the
//     interrupted object is complete, absent, or NotReady and removable;
//  4. a retry of a failed call succeeds, and the object can be removed.
//
// finish() removes everything and runs the leak scan (../leaks.ts).

import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { CriClient } from '../../helpers/cri-client';
import { FaultDaemon } from '../daemon';
import { callOperation, execProblem, IMAGE, podConfig, prepareTarget, removePodsNamed, STEPS_BEFORE, usableProblems, type Handler, type Operation, type Target } from '../harness';
import { baseline, mountsUnder, pidsNaming, removeVmRunDirs, scanLeaks } from '../leaks';
import { LoopExt4, SmallTmpfs, type SmallFs } from './small-fs';

const CALL_MS = 120_000;

export interface StepResult {
  /** 'ok', or the gRPC code name the call failed with. */
  outcome: string;
  problems: string[];
}

export class DiskFullRig {
  readonly daemon: FaultDaemon;
  readonly root: LoopExt4;
  readonly state: SmallTmpfs;
  private readonly logDir: string;
  private before = new Set<string>();
  private survivor: Target | undefined;
  private seq = 0;

  private disposed = false;

  /** Makes the filesystems and mounts them where the daemon will keep its root and state; dispose() undoes it. */
  constructor(rootMiB: number, stateMiB: number) {
    const dir = mkdtempSync(join(tmpdir(), 'vmpod-diskfull-'));
    this.daemon = new FaultDaemon(dir);
    // The pull's free-space floor (1 GiB by default) is larger than the whole root here; the sweep fills it after the pull.
    appendFileSync(this.daemon.configPath, '\n[images]\nmin_free_bytes = 0\n');
    this.logDir = join(dir, 'logs');
    this.root = LoopExt4.create(join(dir, 'root.img'), this.daemon.root, rootMiB);
    this.state = SmallTmpfs.create(this.daemon.state, stateMiB);
  }

  get dir(): string {
    return this.daemon.dir;
  }

  private get c(): CriClient {
    return this.daemon.client;
  }

  /** Start the daemon, pull the image (space is plentiful then), note what exists, make the survivor. */
  async setup(): Promise<void> {
    await this.daemon.start();
    await this.c.image.PullImage({ image: { image: IMAGE } }, CALL_MS);
    this.before = baseline(this.daemon.root, this.daemon.state);
    this.survivor = await this.prepare('runc', 'survivor', 3);
  }

  private prepare(handler: Handler, name: string, steps: number): Promise<Target> {
    return prepareTarget(this.c, { handler, name }, this.logDir, steps, CALL_MS);
  }

  private call(op: Operation, t: Target): Promise<unknown> {
    return callOperation(this.c, op, t, this.logDir, CALL_MS);
  }

  /** What the operation adds to the root fs, in bytes (free space before minus after); what it made is removed. */
  async measure(op: Operation, handler: Handler = 'runc'): Promise<number> {
    const t = await this.prepare(handler, `measure-${this.seq++}`, STEPS_BEFORE[op]);
    const before = this.root.free();
    await this.call(op, t);
    const written = before - this.root.free();
    await this.removeByName(t.name);
    return written;
  }

  /** One step of the sweep: `fs` has exactly `freeBytes` free while `op` runs. */
  async step(op: Operation, fs: SmallFs, freeBytes: number, handler: Handler = 'runc'): Promise<StepResult> {
    const t = await this.prepare(handler, `${op}-${this.seq++}`, STEPS_BEFORE[op]);
    const problems: string[] = [];
    fs.leaveFree(freeBytes);
    let outcome = 'ok';
    try {
      await this.call(op, t);
    } catch (err) {
      const e = err as ServiceError;
      outcome = GrpcStatus[e.code] ?? String(e.code);
      problems.push(...this.errorProblems(op, t, e));
    }
    try {
      await this.c.runtime.Version({}, 30_000);
      await this.c.runtime.ListPodSandbox({}, 30_000);
    } catch (err) {
      problems.push(`the daemon stopped answering while the disk was full: ${(err as Error).message}\n--- its log ---\n${this.daemon.log().slice(-3000)}`);
      // Start it again, so that the rest of the sweep still tells something.
      fs.unfill();
      await this.daemon.kill();
      await this.daemon.start();
    }
    fs.unfill();
    problems.push(...(await this.checkSurvivor()));
    problems.push(...(await this.resolveAndRetry(op, t, outcome === 'ok')));
    problems.push(...(await this.removeByName(t.name)));
    return { outcome, problems: problems.map((p) => `${handler} ${op} with ${freeBytes} bytes free on ${fs.mountpoint} (call ${outcome}): ${p}`) };
  }

  /**
   * Condition 1: RESOURCE_EXHAUSTED, naming what the caller named (the pod's
   * name for a run, the container's and its pod for a create, else the id
   * sent). One exception: when a child process (runc) hit the full disk, the
   * daemon sees only its exit status and words, never the errno, so INTERNAL
   * carrying the child's own "no space left on device" is as clear as it can be.
   */
  private errorProblems(op: Operation, t: Target, e: ServiceError): string[] {
    const out: string[] = [];
    const childSaidFull = e.code === GrpcStatus.INTERNAL && /failed: runc .*no space left on device/s.test(e.details);
    if (e.code !== GrpcStatus.RESOURCE_EXHAUSTED && !childSaidFull) out.push(`failed ${GrpcStatus[e.code]}, not RESOURCE_EXHAUSTED: ${e.details}`);
    const names: Record<Operation, string[]> = { runp: [`fault/${t.name}`], create: ['"work"', t.pod!], start: [t.ctr!], stopp: [t.pod!], rmp: [t.pod!] };
    const missing = names[op].filter((n) => !e.details.includes(n));
    if (missing.length) out.push(`the error does not name ${missing.join(', ')}: ${e.details}`);
    return out;
  }

  private async checkSurvivor(): Promise<string[]> {
    const s = this.survivor!;
    try {
      const ps = await this.c.runtime.PodSandboxStatus({ pod_sandbox_id: s.pod }, CALL_MS);
      if (ps.status?.state !== 'SANDBOX_READY') return [`survivor pod is ${ps.status?.state}`];
      const cs = await this.c.runtime.ContainerStatus({ container_id: s.ctr }, CALL_MS);
      if (cs.status?.state !== 'CONTAINER_RUNNING') return [`survivor container is ${cs.status?.state}`];
      return await this.execProblem(s.ctr!, 'survivor container');
    } catch (err) {
      return [`survivor: ${(err as Error).message}`];
    }
  }

  private execProblem(ctr: string, what: string): Promise<string[]> {
    return execProblem(this.c, ctr, what, CALL_MS);
  }

  /**
   * Conditions 3 and 4, with space back: the object is complete (and usable),
   * absent, or NotReady and removable; a failed call, retried, succeeds.
   */
  private async resolveAndRetry(op: Operation, t: Target, ok: boolean): Promise<string[]> {
    const r = this.c.runtime;
    const pc = podConfig(t.handler, t.name, this.logDir);
    try {
      const pods = (await r.ListPodSandbox({})).items.filter((p) => p.metadata?.name === t.name);
      if (pods.length > 1) return [`${pods.length} pods named ${t.name}`];
      const pod = pods[0];
      switch (op) {
        case 'runp': {
          if (ok && pod?.state !== 'SANDBOX_READY') return [`RunPodSandbox answered but the pod is ${pod?.state ?? 'gone'}`];
          if (!ok && pod) {
            // NotReady (or ready) and removable, then a retry must succeed.
            await r.StopPodSandbox({ pod_sandbox_id: pod.id }, CALL_MS);
            await r.RemovePodSandbox({ pod_sandbox_id: pod.id }, CALL_MS);
          }
          const id = ok ? pod.id : (await r.RunPodSandbox({ config: pc }, CALL_MS)).pod_sandbox_id;
          return await this.usable({ ...t, pod: id }, 0);
        }
        case 'create':
        case 'start': {
          if (pod?.state !== 'SANDBOX_READY') return [`the pod of the ${op} is ${pod?.state ?? 'gone'}`];
          const ctrs = (await r.ListContainers({ filter: { pod_sandbox_id: pod.id } })).containers;
          if (ctrs.length > 1) return [`${ctrs.length} containers in pod ${t.name}`];
          const ctr = ctrs[0];
          if (ok && !ctr) return [`${op} answered but the container is gone`];
          if (!ctr) return op === 'create' ? await this.usable({ ...t, pod: pod.id }, 0) : ['the container to start is gone'];
          if (ctr.state === 'CONTAINER_EXITED') {
            if (ok) return [`${op} answered but the container exited`];
            await r.RemoveContainer({ container_id: ctr.id }, CALL_MS);
            return await this.usable({ ...t, pod: pod.id }, 0);
          }
          return await this.usable({ ...t, pod: pod.id, ctr: ctr.id }, ctr.state === 'CONTAINER_RUNNING' ? 2 : 1);
        }
        case 'stopp':
        case 'rmp': {
          if (op === 'stopp' && !pod) return ['StopPodSandbox removed the pod'];
          if (op === 'rmp' && ok && pod) return ['RemovePodSandbox answered but the pod is still listed'];
          if (!pod) return [];
          // Retried (both are idempotent), each must now succeed and do what it says.
          await r.StopPodSandbox({ pod_sandbox_id: pod.id }, CALL_MS);
          const st = (await r.PodSandboxStatus({ pod_sandbox_id: pod.id }, CALL_MS)).status?.state;
          if (st !== 'SANDBOX_NOTREADY') return [`pod is ${st} after StopPodSandbox`];
          if (op === 'rmp') {
            await r.RemovePodSandbox({ pod_sandbox_id: pod.id }, CALL_MS);
            if ((await r.ListPodSandbox({})).items.some((p) => p.id === pod.id)) return ['pod still listed after RemovePodSandbox'];
          }
          return [];
        }
      }
    } catch (err) {
      return [`after the space came back: ${(err as Error).message}`];
    }
  }

  private usable(t: Target, stage: number): Promise<string[]> {
    return usableProblems(this.c, t, stage, this.logDir, CALL_MS);
  }

  private removeByName(name: string): Promise<string[]> {
    return removePodsNamed(this.c, name, CALL_MS);
  }

  /** Remove the survivor, stop the daemon, list what leaked (our own two mounts, root and state, are not leaks). */
  async finish(): Promise<string[]> {
    const out = this.survivor ? await this.removeByName('survivor') : [];
    const left = (await this.c.runtime.ListPodSandbox({})).items.map((p) => p.metadata?.name);
    if (left.length) out.push(`pods left: ${left.join(', ')}`);
    const code = await this.daemon.stop();
    if (code !== 0) out.push(`daemon exited ${code} on SIGTERM`);
    const ours = [`mount ${this.daemon.root}`, `mount ${this.daemon.state}`];
    out.push(...scanLeaks({ dir: this.dir, root: this.daemon.root, state: this.daemon.state, before: this.before }).filter((l) => !ours.includes(l)));
    return out;
  }

  /** Whatever happened: end the daemon and what it started (by PID), unmount everything under the dir, detach the loop device, remove the dir. */
  async dispose(): Promise<void> {
    // Once: a second `losetup -d` could detach a loop device someone else has since been given.
    if (this.disposed) return;
    this.disposed = true;
    await this.daemon.kill();
    for (const pid of pidsNaming(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    const ours = [this.daemon.root, this.daemon.state];
    for (const m of mountsUnder(this.dir, [])
      .map((l) => l.slice('mount '.length))
      .filter((m) => !ours.includes(m))
      .reverse())
      spawnSync('umount', ['-l', m]);
    removeVmRunDirs(this.daemon.state);
    this.state.dispose();
    this.root.dispose();
    if (mountsUnder(this.dir, []).length === 0) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Free-space amounts for a sweep over an operation that wrote `written` bytes: from 0 up past it, at most `steps` of them, each a whole number of blocks. */
export function sweepPoints(written: number, blockSize: number, steps: number): number[] {
  // Past what stays written by a few blocks: a rewrite holds its temp file and the old one at once.
  const blocks = Math.max(0, Math.ceil(written / blockSize)) + 4;
  const n = Math.min(steps, blocks + 1);
  const pts = Array.from({ length: n }, (_, k) => Math.round((k * blocks) / (n - 1)) * blockSize);
  return [...new Set(pts)];
}
