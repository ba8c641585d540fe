// The CRI fuzz run, shared by test/fault/cri-fuzz.test.ts (bounded, CI) and
// bench/cri-fuzz.ts (longer): on the fault rig's real daemon (test/fault/
// harness.ts: the shared critest netns, its registry, the leak scan), a few
// workers call random methods with generate.ts's requests for a time budget,
// each call with a deadline, and the gRPC code of every answer is counted.
// What counts as a problem:
//
//  1. the daemon stops answering: a probe calls Version and ListPodSandbox
//     every few seconds throughout, each must answer OK within PROBE_MS;
//  2. an answer with code UNKNOWN, INTERNAL or DATA_LOSS (a request the
//     daemon did not expect is the caller's error: INVALID_ARGUMENT,
//     NOT_FOUND, FAILED_PRECONDITION, ...), or a unary call that meets its
//     deadline where the request cannot make it wait (all but ExecSync and
//     StopContainer, whose own timeouts may be long);
//  3. after the budget, stopping and removing every pod fails, the daemon
//     does not exit 0 on SIGTERM, or the rig's leak scan finds anything.
//
// The seed fixes the stream of requests the generator makes for a given
// sequence of daemon answers; the answers (ids, which calls succeed) and the
// interleaving of workers vary with timing, so a rerun with the same seed
// replays the same kinds of request, not always byte for byte.

import { status as GrpcStatus, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CriClient } from '../../helpers/cri-client';
import { IMAGE } from '../harness';
import { asksForVm, RequestGenerator, type FuzzContext, type GeneratedCall, type Handler, type KnownPod } from './generate';

/** What the fuzzer runs against: the fault rig (harness.ts) is one. */
export interface FuzzTarget {
  /** The run's directory: log and scratch directories go under it. */
  readonly dir: string;
  readonly daemon: { readonly client: CriClient; readonly pid: number };
  /** Start the daemon, pull the image, note the baseline, make a survivor pod of this handler. */
  setup(survivor: Handler): Promise<void>;
  /** Remove the survivor, stop the daemon, list what leaked. */
  finish(): Promise<string[]>;
}

export interface FuzzOptions {
  seed: number;
  /** How long to issue calls; calls in flight at the end are waited for. */
  seconds: number;
  handler: Handler;
  /** Concurrent callers. */
  workers?: number;
  /** Valid VM RunPodSandbox calls (each boots a VM under TCG); random ones routed to the VM handler are capped at twice this. */
  maxVmPods?: number;
  /** The image valid containers run (default: the one the fault rig pulls). */
  image?: string;
  /** One line per notable event (a problem, a pod started), for a test's or bench's output. */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  handler: Handler;
  /** Wall time of the calling phase, the wait for calls in flight included. */
  seconds: number;
  calls: number;
  /** Method → gRPC code name → answers. */
  codes: Record<string, Record<string, number>>;
  /** "Method CODE" → the first error message seen with it (cut), to tell what the codes stand for. */
  examples: Record<string, string>;
  validCalls: number;
  podsStarted: number;
  vmPodsAsked: number;
  containersCreated: number;
  probes: number;
  slowestProbeMs: number;
  /** Everything wrong, each distinct problem once with how often it happened. */
  problems: string[];
}

const PROBE_EVERY_MS = 2_000;
/** "Within a few seconds": a probe's deadline. */
const PROBE_MS = 5_000;
/** Calls that may boot a VM, pull or tear down: as long as the fault rig allows (a TCG boot on a loaded machine). */
const LONG_MS = 240_000;
const SHORT_MS = 30_000;
const LONG_CALLS = new Set(['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'StopPodSandbox', 'RemovePodSandbox', 'RemoveContainer', 'PullImage', 'RemoveImage']);
/** The request may legitimately make these wait past any deadline (ExecSync timeout 0, StopContainer timeout 2^63-1). */
const MAY_WAIT = new Set(['ExecSync', 'StopContainer']);
const BAD_CODES = new Set<number>([GrpcStatus.UNKNOWN, GrpcStatus.INTERNAL, GrpcStatus.DATA_LOSS]);
/** How long a server stream is read before the fuzzer cancels it. */
const STREAM_MS = [200, 1_000, 2_000];

type Callback = (err: ServiceError | null, res?: unknown) => void;
type UnaryFn = (this: Client, req: unknown, opts: { deadline: number }, cb: Callback) => unknown;
type StreamFn = (this: Client, req: unknown, opts: { deadline: number }) => ClientReadableStream<unknown>;

interface Answer {
  code: GrpcStatus;
  details: string;
  res?: unknown;
  /** The fuzzer cancelled a server stream it had read long enough. */
  cancelledByUs?: boolean;
}

export function codeName(code: GrpcStatus): string {
  return (GrpcStatus as unknown as Record<number, string>)[code] ?? `code ${code}`;
}

/** A request for a problem line: long strings cut, bytes as their length, at most 600 characters. */
export function describeRequest(req: unknown): string {
  const s = JSON.stringify(req, (_k, v: unknown) => {
    if (typeof v === 'string' && v.length > 80) return `${v.slice(0, 60)}…(${v.length} chars)`;
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') return `<${((v as { data: unknown[] }).data ?? []).length} bytes>`;
    return v;
  });
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
}

/** Problem lines counted: the same thing seen twice is one line "(2x)". Ids are folded so repeats match. */
class Problems {
  private readonly seen = new Map<string, { n: number; example: string }>();

  add(key: string, example = key): void {
    // Ids, the names the generator gives pods and containers, and runc's timestamps differ between repeats of one problem.
    const k = key
      .replace(/[0-9a-f]{64}/g, '<id>')
      .replace(/\b(fuzz|c)\d+-[0-9a-f]+/g, '<name>')
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, '<time>');
    const e = this.seen.get(k);
    if (e) e.n++;
    else this.seen.set(k, { n: 1, example });
  }

  get size(): number {
    return this.seen.size;
  }

  list(): string[] {
    return [...this.seen.values()].map(({ n, example }) => (n > 1 ? `${example} (${n}x)` : example));
  }
}

export class CriFuzzer {
  private readonly gen: RequestGenerator;
  private readonly pods: KnownPod[] = [];
  private readonly containers: string[] = [];
  private readonly problems = new Problems();
  private readonly codes: Record<string, Record<string, number>> = {};
  private readonly examples: Record<string, string> = {};
  private calls = 0;
  private validCalls = 0;
  private podsStarted = 0;
  private validVmAsked = 0;
  private randomVmAsked = 0;
  private containersCreated = 0;
  private probes = 0;
  private slowestProbeMs = 0;
  private readonly maxVm: number;
  private readonly logDir: string;
  private readonly scratchDir: string;

  constructor(
    private readonly rig: FuzzTarget,
    private readonly opts: FuzzOptions,
  ) {
    this.gen = new RequestGenerator(opts.seed);
    this.maxVm = opts.handler === 'vm' ? (opts.maxVmPods ?? 3) : 0;
    this.logDir = join(rig.dir, 'fuzz-logs');
    this.scratchDir = join(rig.dir, 'fuzz-scratch');
  }

  private get c(): CriClient {
    return this.rig.daemon.client;
  }

  private context(): FuzzContext {
    return {
      handler: this.opts.handler,
      image: this.opts.image ?? IMAGE,
      logDir: this.logDir,
      scratchDir: this.scratchDir,
      pods: this.pods,
      containers: this.containers,
      vm: { valid: this.validVmAsked < this.maxVm, random: this.randomVmAsked < 2 * this.maxVm },
    };
  }

  /** The whole run: rig setup, calls for the budget, removal of every pod, daemon stop, leak scan. */
  async run(): Promise<FuzzReport> {
    mkdirSync(this.logDir, { recursive: true });
    mkdirSync(this.scratchDir, { recursive: true });
    // The rig's survivor pod (runc) stays through the run: the fuzzer never learns its id.
    await this.rig.setup('runc');
    const started = performance.now();
    const end = started + this.opts.seconds * 1000;
    let probing = true;
    const probe = this.probeLoop(() => probing);
    await Promise.all(Array.from({ length: this.opts.workers ?? 3 }, () => this.worker(end)));
    probing = false;
    await probe;
    const seconds = (performance.now() - started) / 1000;
    await this.removeEverything();
    for (const leak of await this.rig.finish()) this.problems.add(`after cleanup: ${leak}`);
    return {
      seed: this.opts.seed,
      handler: this.opts.handler,
      seconds,
      calls: this.calls,
      codes: this.codes,
      examples: this.examples,
      validCalls: this.validCalls,
      podsStarted: this.podsStarted,
      vmPodsAsked: this.validVmAsked + this.randomVmAsked,
      containersCreated: this.containersCreated,
      probes: this.probes,
      slowestProbeMs: Math.round(this.slowestProbeMs),
      problems: this.problems.list(),
    };
  }

  private async worker(end: number): Promise<void> {
    while (performance.now() < end && this.alive()) {
      const g = this.gen.next(this.context());
      if (g.name === 'RunPodSandbox' && asksForVm(g.request)) {
        if (g.valid) this.validVmAsked++;
        else this.randomVmAsked++;
      }
      await this.one(g);
    }
  }

  /** The daemon process is still there (a dead one fails every call quickly: stop instead of counting thousands). */
  private alive(): boolean {
    try {
      process.kill(this.rig.daemon.pid, 0);
      return true;
    } catch {
      this.problems.add('the daemon process died during the run');
      return false;
    }
  }

  private async one(g: GeneratedCall): Promise<void> {
    this.calls++;
    if (g.valid) this.validCalls++;
    const a = g.stream ? await this.stream(g) : await this.unary(g);
    const name = a.cancelledByUs ? 'OK (stream read, then cancelled)' : codeName(a.code);
    const byCode = (this.codes[g.name] ??= {});
    byCode[name] = (byCode[name] ?? 0) + 1;
    if (a.details) this.examples[`${g.name} ${name}`] ??= a.details.slice(0, 300);
    if (a.code === GrpcStatus.OK) this.learn(g, a.res);
    const clientSide = /serialization failure/i.test(a.details);
    if (clientSide)
      this.problems.add(
        `${g.name}: the fuzzer made a request the client cannot encode: ${a.details}`,
        `${g.name}: the fuzzer made a request the client cannot encode: ${a.details}; request ${describeRequest(g.request)}`,
      );
    else if (BAD_CODES.has(a.code))
      this.problems.add(`${g.name} answered ${codeName(a.code)}: ${a.details}`, `${g.name} answered ${codeName(a.code)}: ${a.details.slice(0, 400)}; request ${describeRequest(g.request)}`);
    else if (a.code === GrpcStatus.DEADLINE_EXCEEDED && !g.stream && !MAY_WAIT.has(g.name))
      this.problems.add(`${g.name} did not answer within its deadline`, `${g.name} did not answer within ${LONG_CALLS.has(g.name) ? LONG_MS : SHORT_MS} ms; request ${describeRequest(g.request)}`);
  }

  /** Ids the daemon returned become targets of later calls. */
  private learn(g: GeneratedCall, res: unknown): void {
    if (g.name === 'RunPodSandbox') {
      const id = (res as { pod_sandbox_id?: string }).pod_sandbox_id;
      if (!id) return;
      this.pods.push({ id, config: (g.request.config ?? {}) as Record<string, unknown> });
      this.podsStarted++;
      this.opts.progress?.(`pod ${id.slice(0, 12)} started${asksForVm(g.request) ? ' (VM)' : ''}${g.valid ? '' : ' from a random request'}`);
    } else if (g.name === 'CreateContainer') {
      const id = (res as { container_id?: string }).container_id;
      if (!id) return;
      this.containers.push(id);
      this.containersCreated++;
    }
  }

  private raw(g: GeneratedCall): Client {
    return g.service === 'runtime' ? this.c.raw.runtime : this.c.raw.image;
  }

  private unary(g: GeneratedCall): Promise<Answer> {
    const client = this.raw(g);
    const fn = (client as unknown as Record<string, UnaryFn>)[g.name];
    return new Promise((resolve) => {
      fn.call(client, g.request, { deadline: Date.now() + (LONG_CALLS.has(g.name) ? LONG_MS : SHORT_MS) }, (err, res) => {
        resolve(err ? { code: err.code, details: err.details ?? err.message } : { code: GrpcStatus.OK, details: '', res });
      });
    });
  }

  /** A server stream: read for a while, then cancel (a quiet stream such as GetContainerEvents never ends by itself). */
  private stream(g: GeneratedCall): Promise<Answer> {
    const client = this.raw(g);
    const fn = (client as unknown as Record<string, StreamFn>)[g.name];
    const readMs = STREAM_MS[this.calls % STREAM_MS.length];
    return new Promise((resolve) => {
      let cancelled = false;
      const call = fn.call(client, g.request, { deadline: Date.now() + SHORT_MS });
      const timer = setTimeout(() => {
        cancelled = true;
        call.cancel();
      }, readMs);
      call.on('data', () => undefined);
      call.on('error', (err: ServiceError) => {
        clearTimeout(timer);
        resolve(cancelled && err.code === GrpcStatus.CANCELLED ? { code: GrpcStatus.OK, details: '', cancelledByUs: true } : { code: err.code, details: err.details ?? err.message });
      });
      call.on('status', (s: { code: GrpcStatus; details: string }) => {
        if (s.code !== GrpcStatus.OK) return; // the error event says it
        clearTimeout(timer);
        resolve({ code: GrpcStatus.OK, details: '' });
      });
    });
  }

  private async probeLoop(going: () => boolean): Promise<void> {
    let lastProblem = 0;
    while (going()) {
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
      if (!going()) break;
      const t0 = performance.now();
      try {
        await this.c.runtime.Version({}, PROBE_MS);
        await this.c.runtime.ListPodSandbox({}, PROBE_MS);
      } catch (err) {
        // One line per failure, but not one per probe of a daemon that is gone.
        if (performance.now() - lastProblem > 10_000) this.opts.progress?.(`probe failed: ${(err as Error).message}`);
        lastProblem = performance.now();
        this.problems.add(
          `Version/ListPodSandbox did not answer within ${PROBE_MS} ms: ${codeName((err as ServiceError).code)}`,
          `Version/ListPodSandbox did not answer within ${PROBE_MS} ms: ${(err as Error).message}`,
        );
      }
      const ms = performance.now() - t0;
      this.probes++;
      this.slowestProbeMs = Math.max(this.slowestProbeMs, ms);
    }
  }

  /** Stop and remove every pod but the rig's survivor (the rig removes that one); each failure is a problem. */
  private async removeEverything(): Promise<void> {
    const pods = (await this.c.runtime.ListPodSandbox({}, LONG_MS)).items.filter((p) => p.metadata?.name !== 'survivor');
    for (const p of pods) {
      try {
        await this.c.runtime.StopPodSandbox({ pod_sandbox_id: p.id }, LONG_MS);
        await this.c.runtime.RemovePodSandbox({ pod_sandbox_id: p.id }, LONG_MS);
      } catch (err) {
        this.problems.add(`removing pod ${p.metadata?.name ?? p.id}: ${(err as Error).message}`);
      }
    }
  }
}

/** Render a report for a test's comment or a bench's output. */
export function renderReport(r: FuzzReport): string {
  const lines = [
    `${r.handler}: seed ${r.seed}, ${r.calls} calls in ${r.seconds.toFixed(0)} s (${r.validCalls} built valid), ${r.podsStarted} pods started (${r.vmPodsAsked} asked for a VM), ${r.containersCreated} containers created, ${r.probes} liveness probes (slowest ${r.slowestProbeMs} ms)`,
  ];
  const all: Record<string, number> = {};
  for (const [method, byCode] of Object.entries(r.codes).sort(([a], [b]) => a.localeCompare(b))) {
    const n = Object.values(byCode).reduce((a, b) => a + b, 0);
    lines.push(
      `  ${method.padEnd(28)} ${String(n).padStart(5)}  ${Object.entries(byCode)
        .map(([c, k]) => `${c} ${k}`)
        .join(', ')}`,
    );
    for (const [c, k] of Object.entries(byCode)) all[c] = (all[c] ?? 0) + k;
  }
  const unusual = Object.entries(r.examples).filter(([k]) => /UNAVAILABLE|DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED|CANCELLED|ABORTED/.test(k));
  if (unusual.length) lines.push('  what the unusual codes said (first of each):');
  for (const [k, e] of unusual) lines.push(`    ${k}: ${e}`);
  lines.push(
    `  codes: ${Object.entries(all)
      .map(([c, k]) => `${c} ${k}`)
      .join(', ')}`,
  );
  lines.push(r.problems.length ? `  problems (${r.problems.length}):` : '  problems: none');
  for (const p of r.problems) lines.push(`    ${p}`);
  return lines.join('\n');
}
