// bench/vm-crun: where `crun run`'s time goes in a VM pod's StartContainer
// under TCG (issue 17 goal 1). One guest, booted as bench/vm-exec boots it;
// then, round robin for --rounds rounds:
//
//   * StartContainer of the container bench/vm-cold-start runs, with the OCI
//     spec the host's generator makes for it (src/oci + guestSpec), and of
//     variants of that spec with one feature taken away or added (seccomp,
//     a pid namespace, masked paths, device rules, …): the difference is
//     what that feature costs crun, measured as the agent measures a start
//     (until crun's pid file names the container's process);
//   * DebugExec probes: busybox `true` (the cost of any program), `crun
//     --version` (crun's own start-up: loading its libraries), and
//     `crun state` of a missing container.
//
// Wall time and QEMU's CPU time (the guest's work under TCG) of each. The
// very first StartContainer (before any other crun in the guest) is reported
// apart: it is the one a cold pod pays, TCG translating crun's code for the
// first time. With --trace DIR it also runs `crun run` of each variant (the
// container's process /bin/true) under the guest kernel's own tracer
// (tracefs: every system call's entry and exit, forks, execs, exits of
// crun's process tree; a few tens of µs each under TCG, where strace's
// ptrace stops cost ~1.5 ms each and swamp what they measure) and leaves the
// traces, with system call names, in DIR.
//
//   node dist/bench/vm-crun.js [--rounds 3] [--probes 5] [--trace DIR] [--variants full,seccomp,...]
//   VMPOD_GUEST_DIR=<guest build> node dist/bench/vm-crun.js ...

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerSpec } from '../src/oci/container-spec';
import type { OciSpec } from '../src/oci/types';
import { guestHostFacts, guestPodContext, guestSpec } from '../src/sandbox/microvm/guest-spec';
import type { ContainerConfig__Output } from '../src/generated/cri/runtime/v1/ContainerConfig';
import { parseOrUsage } from './lib/args';
import { bootBenchGuest, SHARE_IN_GUEST, type Sample } from './lib/bench-guest';
import { busyboxContainerConfig } from './lib/vm-bench';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { benchEnvironment } from './lib/report';
import { median } from './lib/stats';

/** busybox's setarch: the program runs with ADDR_NO_RANDOMIZE (its libraries where the last run had them). */
const NO_ASLR = ['busybox', 'linux64', '-R'];
const SYSCALL_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

/** The container bench/vm-cold-start runs, as kubelet would send it: a pid namespace of its own unless `podPid`, seccomp as asked. */
function criConfig(seccomp: 'RuntimeDefault' | undefined): ContainerConfig__Output {
  const c = busyboxContainerConfig('busybox', 'echo up; exec sleep 3600');
  if (!seccomp) return c;
  return {
    ...c,
    linux: {
      resources: null,
      security_context: { seccomp: { profile_type: seccomp, localhost_ref: '' }, seccomp_profile_path: '', masked_paths: [], readonly_paths: [], supplemental_groups: [] },
    },
  } as unknown as ContainerConfig__Output;
}

/** The spec the host sends the agent for that container (host generator, then guestSpec), pod files under the share. */
function hostSpec(shareHost: string, id: string, pid: 'POD' | 'CONTAINER', seccomp: 'RuntimeDefault' | undefined): OciSpec {
  const rootfsRel = 'rootfs';
  const podFile = (n: string): string => join(shareHost, 'pod', n);
  const host = containerSpec({
    containerId: id,
    config: criConfig(seccomp),
    image: { Env: ['PATH=/bin'] },
    rootfs: join(shareHost, rootfsRel),
    passwd: 'root:x:0:0:root:/:/bin/sh\n',
    group: 'root:x:0:\n',
    targetPid: 0,
    host: guestHostFacts({ pathExists: () => true, readFile: () => '' }),
    pod: guestPodContext('bench', 'bench', { network: 'POD', pid, ipc: 'POD' }, { hosts: podFile('hosts'), resolvConf: podFile('resolv.conf'), hostname: podFile('hostname') }),
  });
  return guestSpec({ spec: host.spec, sharedHostDir: shareHost, rootfsRel, sharedMounts: new Map() }).spec;
}

type Variant = {
  name: string;
  what: string;
  spec: (shareHost: string, id: string) => OciSpec;
  /** Remove crun's compiled seccomp filters before the start: the first container with a profile in a guest compiles it. */
  emptySeccompCache?: boolean;
};

/** Each variant changes one thing of `full` (kubelet's default: a pid namespace per container, no seccomp filter). */
const VARIANTS: Variant[] = [
  { name: 'full', what: "kubelet's default container: own pid ns, no seccomp", spec: (s, id) => hostSpec(s, id, 'CONTAINER', undefined) },
  { name: 'seccomp', what: '+ RuntimeDefault seccomp profile', spec: (s, id) => hostSpec(s, id, 'CONTAINER', 'RuntimeDefault') },
  {
    name: 'seccomp-cold',
    what: "+ RuntimeDefault with crun's filter cache (/run/crun/.cache/seccomp) emptied first, as in a fresh guest",
    spec: (s, id) => hostSpec(s, id, 'CONTAINER', 'RuntimeDefault'),
    emptySeccompCache: true,
  },
  { name: 'pod-pid', what: 'pid namespace shared with the pod (bench/vm-cold-start)', spec: (s, id) => hostSpec(s, id, 'POD', undefined) },
  {
    name: 'no-masks',
    what: '- maskedPaths and readonlyPaths',
    spec: (s, id) => {
      const spec = hostSpec(s, id, 'CONTAINER', undefined);
      delete spec.linux.maskedPaths;
      delete spec.linux.readonlyPaths;
      return spec;
    },
  },
  {
    name: 'no-devrules',
    what: '- device cgroup rules (no eBPF device program)',
    spec: (s, id) => {
      const spec = hostSpec(s, id, 'CONTAINER', undefined);
      if (spec.linux.resources) delete spec.linux.resources.devices;
      return spec;
    },
  },
  {
    name: 'no-cgroupns',
    what: '- cgroup namespace',
    spec: (s, id) => {
      const spec = hostSpec(s, id, 'CONTAINER', undefined);
      spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'cgroup');
      return spec;
    },
  },
  {
    name: 'min-mounts',
    what: 'only /proc and /dev (no sysfs, devpts, mqueue, cgroup, pod files, /dev/shm)',
    spec: (s, id) => {
      const spec = hostSpec(s, id, 'CONTAINER', undefined);
      spec.mounts = spec.mounts.filter((m) => m.destination === '/proc' || m.destination === '/dev');
      return spec;
    },
  },
];

async function main(cleanup: Cleanup, rounds: number, probes: number, traceDir: string | undefined, traceRunsN: number, only: string[]): Promise<void> {
  const variants = only.length ? VARIANTS.filter((v) => only.includes(v.name)) : VARIANTS;
  if (variants.length === 0) throw new Error(`no variant named ${only.join(',')}; known: ${VARIANTS.map((v) => v.name).join(',')}`);
  const { image: img, share, client, timed } = await bootBenchGuest(cleanup, { name: 'vm-crun', applets: ['sh', 'true', 'sleep', 'echo'], runForMs: 3_600_000, callTimeoutMs: 60_000 });
  mkdirSync(join(share, 'pod'));
  writeFileSync(join(share, 'pod/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(share, 'pod/resolv.conf'), 'nameserver 127.0.0.1\n');
  writeFileSync(join(share, 'pod/hostname'), 'bench\n');
  mkdirSync(join(share, 'out'));
  const load0 = benchEnvironment().loadavg1;

  let debugN = 0;
  const debug = async (args: string[], env: string[] = []): Promise<number> => {
    const id = `d${debugN++}`;
    await client.call('DebugExec', { exec_id: id, args, env, terminal: false, rows: 0, cols: 0, stdin: false });
    const w = await client.waitProcess({ container_id: '', exec_id: id, wait_ms: 600_000 }, { timeoutMs: 620_000 });
    if (!w.exited) throw new Error(`debug process ${args.join(' ')} did not exit`);
    return w.exit_code;
  };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

  const results = new Map<string, Sample[]>();
  const add = (k: string, s: Sample): void => void (results.get(k) ?? results.set(k, []).get(k)!).push(s);
  let n = 0;
  const startOne = async (v: Variant, key: string): Promise<void> => {
    const id = `${v.name}-${n++}`;
    if (v.emptySeccompCache) await debug(['busybox', 'rm', '-rf', '/run/crun/.cache/seccomp']);
    await client.call('CreateContainer', { container_id: id, oci_spec_json: Buffer.from(JSON.stringify(v.spec(share, id))), rootfs_path: 'rootfs' });
    await settle();
    add(key, await timed(async () => void (await client.call('StartContainer', { container_id: id }, { timeoutMs: 120_000 }))));
    await client.call('RemoveContainer', { container_id: id, force: true }, { timeoutMs: 120_000 });
    await settle();
  };
  /** StartContainer of variants[0] traced whole-guest (every task and its scheduling): what the agent costs around crun. */
  const tracedStart = async (dir: string, which: string): Promise<void> => {
    const id = `traced-${which}-${n++}`;
    await client.call('CreateContainer', { container_id: id, oci_spec_json: Buffer.from(JSON.stringify(variants[0].spec(share, id))), rootfs_path: 'rootfs' });
    const tracer = `tracer-${debugN++}`;
    const out = `${SHARE_IN_GUEST}/out/start-${which}.trace`;
    await client.call('DebugExec', { exec_id: tracer, args: ['/bin/sh', '-c', traceScript(out, 'sleep 4', false)], env: [], terminal: false, rows: 0, cols: 0, stdin: false });
    await new Promise((r) => setTimeout(r, 1000));
    add(`StartContainer ${variants[0].name}, ${which}, traced whole-guest`, await timed(async () => void (await client.call('StartContainer', { container_id: id }, { timeoutMs: 120_000 }))));
    await client.waitProcess({ container_id: '', exec_id: tracer, wait_ms: 60_000 }, { timeoutMs: 70_000 });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `start-${which}.trace`), nameSyscalls(readFileSync(join(share, 'out', `start-${which}.trace`), 'utf8')));
    console.log(`traced StartContainer (${which}): ${join(dir, `start-${which}.trace`)}`);
    await client.call('RemoveContainer', { container_id: id, force: true }, { timeoutMs: 120_000 });
  };
  // The first crun in the guest, as in a cold pod: TCG has not translated its code yet.
  if (traceDir) await tracedStart(traceDir, 'first');
  else await startOne(variants[0], `first StartContainer (${variants[0].name})`);
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) await startOne(v, `StartContainer ${v.name}`);
    for (let i = 0; i < probes; i++) {
      add('debug: busybox true', await timed(async () => void (await debug(['true']))));
      add('debug: crun --version', await timed(async () => void (await debug(['/usr/bin/crun', '--version']))));
      add('debug: crun --version, ASLR off', await timed(async () => void (await debug([...NO_ASLR, '/usr/bin/crun', '--version']))));
      add('debug: crun state (no such container)', await timed(async () => void (await debug(['/usr/bin/crun', 'state', 'nope']))));
      for (const aslr of [true, false]) {
        const id = `probe-${n++}`;
        const spec = variants[0].spec(share, id);
        // ASLR off for crun only: the container's process gets the kernel's default back through its personality (crun sets it before the exec).
        if (!aslr) Object.assign(spec.linux, { personality: { domain: 'LINUX' } });
        const bundle = guestBundle(share, id, spec);
        const args = [...(aslr ? [] : NO_ASLR), '/usr/bin/crun', 'run', '--bundle', bundle, id];
        add(`debug: crun run ${variants[0].name} (/bin/true)${aslr ? '' : ', ASLR off'}`, await timed(async () => void (await debug(args))));
      }
    }
  }
  if (traceDir) {
    await traceRuns(traceDir, variants, share, debug, traceRunsN);
    await tracedStart(traceDir, 'later');
  }

  console.log(`guest ${img.hash.slice(0, 12)}, TCG, serial agent channel, ${rounds} round(s), load average ${load0.toFixed(2)} → ${benchEnvironment().loadavg1.toFixed(2)}`);
  for (const v of variants) console.log(`  ${v.name.padEnd(12)} ${v.what}`);
  for (const [k, samples] of results) {
    const wall = samples.map((s) => s.wallMs);
    const cpu = samples.map((s) => s.cpuMs);
    console.log(`${k.padEnd(40)} wall median ${String(median(wall)).padStart(5)} ms [${wall.join(' ')}]   QEMU CPU median ${String(median(cpu)).padStart(5)} ms [${cpu.join(' ')}]`);
  }
}

const TRACEFS = '/sys/kernel/tracing';
const TRACE_EVENTS = ['raw_syscalls:sys_enter', 'raw_syscalls:sys_exit', 'sched:sched_process_fork', 'sched:sched_process_exec', 'sched:sched_process_exit'];

/**
 * `crun run` of each variant (its process /bin/true, a bundle under the
 * share) traced by the guest kernel: the shell that runs crun is the traced
 * pid, with its children (event-fork). Each trace goes to DIR/<variant>.trace
 * with the system call numbers named.
 */
async function traceRuns(dir: string, variants: Variant[], share: string, debug: (args: string[]) => Promise<number>, runs: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const byVariant = new Map<string, CrunPhases[]>();
  for (let r = 0; r < runs; r++) {
    for (const v of variants) {
      const id = `trace-${v.name}-${r}`;
      const bundle = guestBundle(share, id, v.spec(share, id));
      const out = `${SHARE_IN_GUEST}/out/${id}.trace`;
      const run = `${v.emptySeccompCache ? 'busybox rm -rf /run/crun/.cache/seccomp; ' : ''}/usr/bin/crun run --bundle ${bundle} ${id} </dev/null >/dev/null 2>${out}.err`;
      const rc = await debug(['/bin/sh', '-c', traceScript(out, run, true)]);
      const text = nameSyscalls(readFileSync(join(share, 'out', `${id}.trace`), 'utf8'));
      writeFileSync(join(dir, `${id}.trace`), text);
      if (rc !== 0) throw new Error(`traced crun run (${v.name}) exited ${rc}: see ${join(dir, `${id}.trace`)}`);
      (byVariant.get(v.name) ?? byVariant.set(v.name, []).get(v.name)!).push(crunPhases(text));
    }
  }
  console.log(`crun run by phase, guest kernel's trace (ms from crun's exec; median of ${runs}; traces in ${dir}):`);
  console.log(`  ${'phase'.padEnd(PHASE_WIDTH)} ${variants.map((v) => v.name.padStart(12)).join(' ')}`);
  for (const k of Object.keys(PHASE_NAMES) as (keyof CrunPhases)[]) {
    console.log(
      `  ${PHASE_NAMES[k].padEnd(PHASE_WIDTH)} ${variants
        .map((v) =>
          median(byVariant.get(v.name)!.map((p) => p[k]))
            .toFixed(0)
            .padStart(12),
        )
        .join(' ')}`,
    );
  }
}

const PHASE_NAMES = {
  startup: 'start-up (exec, libraries, constructors)',
  config: 'config.json read and parsed',
  cgroup: 'state dir, cgroup',
  setup: 'clone -> pivot_root (namespaces, mounts, device BPF, seccomp)',
  final: "pivot_root -> container's execve (stdio, user, caps)",
  exec: "container's execve (its binary on 9p)",
  made: "crun's exec -> state written (container made)",
};
const PHASE_WIDTH = 62;
type CrunPhases = Record<keyof typeof PHASE_NAMES, number>;

/**
 * Phase boundaries of one traced `crun run` (1.8), by the system calls that
 * mark them: the chdir into the bundle (start-up done), the first geteuid
 * (config parsed), clone3 (the container's process), its pivot_root, its
 * execve, and crun's rename of the container's status file.
 */
function crunPhases(trace: string): CrunPhases {
  const ev: { pid: number; ms: number; kind: string; rest: string }[] = [];
  for (const m of trace.matchAll(/^\s*.+?-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)$/gm)) ev.push({ pid: Number(m[1]), ms: Number(m[2]) * 1000, kind: m[3], rest: m[4] });
  const must = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(`trace of crun run has no ${what}`);
    return x;
  };
  const exec = must(
    ev.find((e) => e.kind === 'sched_process_exec' && e.rest.includes('filename=/usr/bin/crun')),
    "crun's exec",
  );
  const fork = must(
    ev.find((e) => e.kind === 'sched_process_fork' && e.pid === exec.pid && e.ms >= exec.ms),
    "crun's clone",
  );
  const child = Number(must(/child_pid=(\d+)/.exec(fork.rest) ?? undefined, 'child pid')[1]);
  const call = (pid: number, name: string, after = exec.ms): number =>
    must(
      ev.find((e) => e.pid === pid && e.kind === 'sys_enter' && e.rest.startsWith(`${name} `) && e.ms >= after),
      `${name} of ${pid}`,
    ).ms;
  const chdir = call(exec.pid, 'chdir');
  const geteuid = call(exec.pid, 'geteuid', chdir);
  const clone = call(exec.pid, 'clone3', geteuid);
  const pivot = call(child, 'pivot_root');
  const execve = call(child, 'execve', pivot);
  const ran = must(
    ev.find((e) => e.kind === 'sched_process_exec' && e.pid === child),
    "the container's exec",
  ).ms;
  const made = call(exec.pid, 'rename', execve);
  return { startup: chdir - exec.ms, config: geteuid - chdir, cgroup: clone - geteuid, setup: pivot - clone, final: execve - pivot, exec: ran - execve, made: made - exec.ms };
}

/**
 * A shell script that traces `command` with the guest kernel's tracer and
 * dumps the trace to `out`: only the shell and its children (`ownTree`), or
 * every task with its scheduling (sched_switch), to see what else takes the
 * vCPU meanwhile. Exits with the command's status.
 */
function traceScript(out: string, command: string, ownTree: boolean): string {
  const events = ownTree ? TRACE_EVENTS : [...TRACE_EVENTS, 'sched:sched_switch', 'sched:sched_wakeup'];
  return [
    `T=${TRACEFS}`,
    '[ -d $T/events ] || busybox mount -t tracefs nodev $T',
    'echo 0 > $T/tracing_on',
    'echo > $T/trace',
    'echo 16384 > $T/buffer_size_kb',
    'echo > $T/set_event',
    ...events.map((e) => `echo ${e} >> $T/set_event`),
    ownTree ? 'echo $$ > $T/set_event_pid' : 'echo > $T/set_event_pid',
    `echo ${ownTree ? 1 : 0} > $T/options/event-fork`,
    'echo 1 > $T/tracing_on',
    command,
    'rc=$?',
    'echo 0 > $T/tracing_on',
    `busybox cat $T/trace > ${out}`,
    'echo > $T/set_event; echo > $T/set_event_pid; echo > $T/trace',
    'exit $rc',
  ].join('\n');
}

/** The trace's system call numbers with their names. */
function nameSyscalls(trace: string): string {
  const names = syscallNames();
  return trace.replace(/NR (\d+)/g, (m, nr: string) => `${names.get(Number(nr)) ?? 'NR'} ${nr}`);
}

/**
 * A bundle in the share for a `crun run` the bench starts itself (not through
 * the agent): the spec's process is /bin/true, its cgroup under the agent's
 * parent, its paths the guest's. Returns the bundle's path in the guest.
 */
function guestBundle(share: string, id: string, spec: OciSpec): string {
  const dir = join(share, 'bundles', id);
  mkdirSync(dir, { recursive: true });
  spec.root = { ...spec.root, path: `${SHARE_IN_GUEST}/rootfs` };
  spec.process.args = ['/bin/true'];
  spec.linux.cgroupsPath = `/vmpod/${id}`;
  // The share as the guest sees it: the host's spec names the host's paths.
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec).split(share).join(SHARE_IN_GUEST));
  return `${SHARE_IN_GUEST}/bundles/${id}`;
}

/** x86_64 system call numbers → names, from the host's kernel headers (the guest is x86_64 too). */
function syscallNames(): Map<number, string> {
  const m = new Map<number, string>();
  for (const [, name, nr] of readFileSync(SYSCALL_HEADER, 'utf8').matchAll(/#define __NR_(\w+) (\d+)/g)) m.set(Number(nr), name);
  return m;
}

const SPEC = {
  description: "where crun run's time goes in a TCG guest: StartContainer of spec variants, crun start-up probes, optional strace (QEMU's CPU = the guest's work)",
  defaultRuns: 1,
  ints: {
    rounds: { default: 3, min: 1, help: 'rounds of every variant, round robin' },
    probes: { default: 3, min: 0, help: 'DebugExec probes of each kind per round' },
    'trace-runs': { default: 3, min: 1, help: 'with --trace: traced crun runs per variant, round robin' },
  },
  strings: {
    trace: { help: "write the guest kernel's trace of crun run per variant into this directory" },
    variants: { help: `comma-separated subset of ${VARIANTS.map((v) => v.name).join(',')}` },
  },
};

async function cli(): Promise<void> {
  const parsed = parseOrUsage('dist/bench/vm-crun.js', SPEC, process.argv.slice(2));
  if ('exit' in parsed) {
    process.exitCode = parsed.exit;
    return;
  }
  const { args } = parsed;
  const cleanup = new Cleanup();
  const { rounds, probes } = args.ints;
  const traceRunsN = args.ints['trace-runs'];
  const only = args.strings.variants ? args.strings.variants.split(',') : [];
  process.exitCode = await runWithCleanup(cleanup, () => main(cleanup, rounds, probes, args.strings.trace || undefined, traceRunsN, only));
}

if (require.main === module) void cli();
