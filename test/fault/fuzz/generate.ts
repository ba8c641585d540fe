// Random but well-typed CRI requests, as containerd's FuzzCRIServer makes
// them (contrib/fuzz: go-fuzz-headers fills each request struct, a random
// method is called): every field of every RuntimeService and ImageService
// request is walked from the proto's own descriptors (proto/cri/api.proto,
// the file src/cri/proto.ts serves), so a method or field the proto gains
// is fuzzed without a change here.
//
// Random values alone stop at the first validation, so some requests are
// steered past it: ids are often ones the daemon returned (pods and
// containers the fuzzer made), images the one the registry has, and some
// RunPodSandbox/CreateContainer/StartContainer/ExecSync requests are valid
// outright, so that pods really start and the later calls act on them.
//
// The fuzzer must not hurt the machine it runs on: every field that names a
// host path (log_directory, host_path, cgroup_parent, profile files, a
// checkpoint location) is either under the run's own scratch directory or a
// shape validation must refuse; a VM pod is only asked for while the
// context allows one (TCG boots are slow, the runner caps them).
//
// Pure: the output is a function of the seed and the contexts passed in.

import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { criProtoPath, IMAGE_SERVICE_NAME, RUNTIME_SERVICE_NAME } from '../../../src/cri/proto';
import { UNTRUSTED_ANNOTATION } from '../../../src/sandbox/route';
import { Rng } from './rng';
import { nameLike, randomScalar, randomString, STRING_SHAPES } from './shapes';

export type Handler = 'runc' | 'vm';
export type Service = 'runtime' | 'image';

export interface KnownPod {
  id: string;
  /** The config it was made with: what a valid CreateContainer sends as sandbox_config. */
  config: Record<string, unknown>;
}

/** What the generator may steer requests towards; the runner keeps it up to date. */
export interface FuzzContext {
  /** The handler under test: valid pods are of this kind (when a VM is allowed). */
  handler: Handler;
  /** An image the daemon can pull (it is in the shared registry). */
  image: string;
  /** Log directories of valid pods go under here. */
  logDir: string;
  /** Host paths the fuzzer names (mounts, devices, profiles) go under here. */
  scratchDir: string;
  pods: readonly KnownPod[];
  containers: readonly string[];
  /**
   * May this request ask for a VM pod: built valid (it boots), or random (it
   * boots only if it passes validation)? With neither, every RunPodSandbox is
   * steered to runc.
   */
  vm: { valid: boolean; random: boolean };
}

export interface MethodInfo {
  service: Service;
  name: string;
  requestType: string;
  /** A server stream (the CRI has no client streams). */
  stream: boolean;
}

export interface GeneratedCall extends MethodInfo {
  request: Record<string, unknown>;
  /** Built to pass validation (a valid pod, container, start, exec), not field by field. */
  valid: boolean;
}

/** Methods called more often: the lifecycle, whose state the other calls then act on. */
const WEIGHT: Record<string, number> = {
  RunPodSandbox: 4,
  CreateContainer: 4,
  StartContainer: 3,
  ExecSync: 2,
  StopContainer: 2,
  RemoveContainer: 2,
  StopPodSandbox: 2,
  RemovePodSandbox: 2,
};

/** Fields that name a host path: only under the scratch directory, or a shape validation refuses. */
const HOST_PATH_FIELDS = new Set(['host_path', 'log_directory', 'cgroup_parent', 'seccomp_profile_path', 'localhost_ref', 'location', 'apparmor_profile']);
/** String fields holding a pod or container id (filters name them `id`). */
const POD_ID_FIELDS = new Set(['pod_sandbox_id']);
const CONTAINER_ID_FIELDS = new Set(['container_id']);
/** Metadata fields the daemon checks against its name rule (src/cri/validate-config.ts). */
const NAME_FIELDS = new Set(['name', 'namespace', 'uid']);
const MAX_DEPTH = 7;

let cachedRoot: protobuf.Root | undefined;

function protoRoot(): protobuf.Root {
  if (!cachedRoot) {
    // keepCase: the field names the daemon's loader uses (CRI_LOADER_OPTIONS), snake_case as in the proto.
    cachedRoot = new protobuf.Root().loadSync(criProtoPath(), { keepCase: true });
    cachedRoot.resolveAll();
  }
  return cachedRoot;
}

/** Every RPC of both services, from the proto. */
export function criMethods(): MethodInfo[] {
  const root = protoRoot();
  const out: MethodInfo[] = [];
  for (const [service, full] of [
    ['runtime', RUNTIME_SERVICE_NAME],
    ['image', IMAGE_SERVICE_NAME],
  ] as const) {
    const svc = root.lookupService(full);
    for (const m of svc.methodsArray) {
      m.resolve();
      out.push({ service, name: m.name, requestType: m.resolvedRequestType!.fullName.replace(/^\./, ''), stream: m.responseStream === true });
    }
  }
  return out;
}

export class RequestGenerator {
  private readonly rng: Rng;
  private readonly methods = criMethods();
  private readonly weighted: MethodInfo[];
  private readonly root = protoRoot();
  private serial = 0;

  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
    this.weighted = this.methods.flatMap((m) => Array<MethodInfo>(WEIGHT[m.name] ?? 1).fill(m));
  }

  get allMethods(): readonly MethodInfo[] {
    return this.methods;
  }

  /** A call to a random method. */
  next(ctx: FuzzContext): GeneratedCall {
    return this.call(this.rng.pick(this.weighted), ctx);
  }

  /** A request for `method`: sometimes valid by construction, otherwise random field by field. */
  call(method: MethodInfo, ctx: FuzzContext): GeneratedCall {
    const valid = this.rng.chance(0.35) ? this.validRequest(method.name, ctx) : undefined;
    const request = valid ?? this.message(this.root.lookupType(method.requestType), ctx, 0);
    if (method.name === 'RunPodSandbox' && !(valid ? ctx.vm.valid : ctx.vm.random)) steerAwayFromVm(request);
    return { ...method, request, valid: valid !== undefined };
  }

  private validRequest(name: string, ctx: FuzzContext): Record<string, unknown> | undefined {
    const r = this.rng;
    switch (name) {
      case 'RunPodSandbox':
        return this.validPod(ctx);
      case 'CreateContainer': {
        if (!ctx.pods.length) return undefined;
        const pod = r.pick(ctx.pods);
        const cname = `c${this.serial++}-${r.hex(4)}`;
        const command = r.pick([['/bin/sh', '-c', 'exec sleep 3600'], ['/bin/sh', '-c', 'echo fuzz; exit 3'], ['/bin/sh', '-c', 'sleep 2'], ['/bin/true']]);
        const config = { metadata: { name: cname, attempt: r.int(3) }, image: { image: ctx.image }, command, log_path: `${cname}.log`, linux: {}, labels: { fuzz: 'yes' } };
        return { pod_sandbox_id: pod.id, config, sandbox_config: pod.config };
      }
      case 'StartContainer':
      case 'ContainerStatus':
      case 'ReopenContainerLog':
      case 'RemoveContainer':
      case 'ContainerStats':
        return ctx.containers.length ? { container_id: r.pick(ctx.containers) } : undefined;
      case 'StopContainer':
        return ctx.containers.length ? { container_id: r.pick(ctx.containers), timeout: String(r.int(3)) } : undefined;
      case 'UpdateContainerResources':
        // What kubelet sends for a pod resize: shares, CFS quota and a memory limit the container stays under.
        return ctx.containers.length
          ? {
              container_id: r.pick(ctx.containers),
              linux: {
                cpu_shares: String(2 + r.int(2048)),
                cpu_period: '100000',
                cpu_quota: r.pick(['-1', '50000']),
                memory_limit_in_bytes: String(r.pick([128, 256]) << 20),
                oom_score_adj: String(r.int(1000)),
              },
            }
          : undefined;
      case 'ExecSync':
        return ctx.containers.length ? { container_id: r.pick(ctx.containers), cmd: ['echo', nameLike(r)], timeout: '10' } : undefined;
      case 'StopPodSandbox':
      case 'RemovePodSandbox':
      case 'PodSandboxStatus':
      case 'PodSandboxStats':
        return ctx.pods.length ? { pod_sandbox_id: r.pick(ctx.pods).id } : undefined;
      case 'PullImage':
      case 'ImageStatus':
        return { image: { image: ctx.image } };
      default:
        return undefined;
    }
  }

  /** A pod kubelet could have asked for: real metadata, a log dir under the run's, the handler under test. */
  private validPod(ctx: FuzzContext): Record<string, unknown> {
    const r = this.rng;
    const name = `fuzz${this.serial++}-${r.hex(6)}`;
    const vm = ctx.handler === 'vm' && ctx.vm.valid;
    const config: Record<string, unknown> = {
      metadata: { name, namespace: 'fuzz', uid: `${r.hex(8)}-${r.hex(4)}-${r.hex(4)}-${r.hex(4)}-${r.hex(12)}`, attempt: r.int(2) },
      hostname: r.chance(0.5) ? name : '',
      log_directory: join(ctx.logDir, name),
      labels: { app: nameLike(r) },
      annotations: vm && r.chance(0.5) ? { [UNTRUSTED_ANNOTATION]: 'true' } : {},
      linux: {},
    };
    const runtime_handler = vm ? ((config.annotations as Record<string, string>)[UNTRUSTED_ANNOTATION] ? '' : 'vm') : r.pick(['', 'runc']);
    return { config, runtime_handler };
  }

  private message(type: protobuf.Type, ctx: FuzzContext, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const presence = depth === 0 ? 0.8 : 0.55;
    for (const f of type.fieldsArray) {
      // Nested messages and names more often than other fields: an absent config, metadata or name stops a request at its first check.
      if (!this.rng.chance(f.resolvedType instanceof protobuf.Type ? 0.85 : NAME_FIELDS.has(f.name) ? 0.9 : presence)) continue;
      if (f.map) {
        const n = this.rng.pick([0, 1, 2, 3]);
        const m: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) m[String(this.scalarOrMessage(new protobuf.Field('key', 0, (f as unknown as protobuf.MapField).keyType), ctx, depth))] = this.scalarOrMessage(f, ctx, depth);
        out[f.name] = m;
      } else if (f.repeated) {
        out[f.name] = Array.from({ length: this.rng.pick([0, 1, 2, 4]) }, () => this.scalarOrMessage(f, ctx, depth));
      } else {
        const v = this.scalarOrMessage(f, ctx, depth);
        if (v !== undefined) out[f.name] = v;
      }
    }
    return out;
  }

  private scalarOrMessage(f: protobuf.Field, ctx: FuzzContext, depth: number): unknown {
    const r = this.rng;
    const t = f.resolvedType;
    if (t instanceof protobuf.Enum) {
      // Mostly a defined value; sometimes a number the enum does not define.
      return r.chance(0.85) ? r.pick(Object.keys(t.values)) : r.pick([-1, 7, 99, 2147483647]);
    }
    if (t instanceof protobuf.Type) return depth >= MAX_DEPTH ? undefined : this.message(t, ctx, depth + 1);
    if (f.type === 'string') return this.string(f.name, ctx);
    return randomScalar(r, f.type);
  }

  /** A string for field `name`: steered where the name says what it holds. */
  private string(name: string, ctx: FuzzContext): string {
    const r = this.rng;
    if (POD_ID_FIELDS.has(name) || (name === 'id' && r.chance(0.5))) {
      if (ctx.pods.length && r.chance(0.6)) return r.pick(ctx.pods).id;
    }
    if (CONTAINER_ID_FIELDS.has(name) || name === 'id') {
      if (ctx.containers.length && r.chance(0.6)) return r.pick(ctx.containers);
    }
    if (name === 'image' && r.chance(0.5)) return ctx.image;
    if (name === 'runtime_handler') return r.pick(['', 'runc', 'vm', randomString(r).value]);
    if (HOST_PATH_FIELDS.has(name)) return this.hostPath(name, ctx);
    // Metadata that passes the name rules most of the time, so random configs get past validation and reach CNI, runc and the VM.
    if (NAME_FIELDS.has(name) && r.chance(0.75)) return nameLike(r);
    return randomString(r).value;
  }

  /**
   * Under the run's own directories, or a shape that must be refused, never a
   * path elsewhere on the host: '..' only where validation refuses it (the
   * log directory); a cgroup parent is empty or holds a NUL, so no cgroup is
   * made outside the daemon's own.
   */
  private hostPath(name: string, ctx: FuzzContext): string {
    const r = this.rng;
    if (name === 'cgroup_parent') return r.pick(['', `${nameLike(r)}\0`, '/vmpod-fuzz/\0/x']);
    const base = name === 'log_directory' ? ctx.logDir : ctx.scratchDir;
    switch (r.int(6)) {
      case 0:
        return '';
      case 1:
        return join(base, nameLike(r));
      case 2:
        return name === 'log_directory' ? `${base}/${r.pick(['..', '../..', 'a/../../..'])}/${nameLike(r)}` : base;
      case 3:
        return `${base}/${nameLike(r)}\0/etc`;
      case 4:
        return `${base}/${STRING_SHAPES.control(r)}`;
      default:
        return `${base}/${'d'.repeat(r.pick([255, 256, 5000]))}`;
    }
  }
}

/** With no VM allowed, a RunPodSandbox may still name any handler but "vm", and carries no untrusted annotation. */
function steerAwayFromVm(req: Record<string, unknown>): void {
  if (req.runtime_handler === 'vm') req.runtime_handler = 'runc';
  const annotations = (req.config as { annotations?: Record<string, unknown> } | undefined)?.annotations;
  if (annotations) delete annotations[UNTRUSTED_ANNOTATION];
}

/** Does this RunPodSandbox request ask for a VM pod (the route src/sandbox/route.ts takes)? */
export function asksForVm(req: Record<string, unknown>): boolean {
  const annotations = (req.config as { annotations?: Record<string, unknown> } | undefined)?.annotations;
  return req.runtime_handler === 'vm' || (!req.runtime_handler && annotations?.[UNTRUSTED_ANNOTATION] === 'true');
}
