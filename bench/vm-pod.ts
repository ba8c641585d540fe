// bench/vm-pod: how long an untrusted pod takes to come up, and what an idle
// VM pod costs the host in memory.
//
//   node dist/bench/vm-pod.js [--runs 3] [--idle 3] [--floor-runs 3]
//                             [--parallel N] [--settle 10] [--smaps-out FILE]
//                             [--tb-size MiB] [--tb-sweep 32,64,1024]
//                             [--fill [--fill-max 150]] [--ksm] [--template]
//
// * Start: RunPodSandbox-equivalent (CNI ADD + MicrovmController.createSandbox,
//   broken into its phases: share, tap, qemu, agent, sandbox, guest-network)
//   then CreateContainer + StartContainer of a busybox container until its
//   first output line is in the CRI log; median of --runs, printed with the
//   ratio to the guest-boot floor (bench/guest-boot's fastest configuration,
//   guest powered off after Node.js starts) measured in the same run.
// * Parallel starts (--parallel N): the --idle pods are started N at a time;
//   the time until the last of a batch is ready is printed against N × the
//   median pod-ready time of the sequential runs above (same run).
// * Memory: --idle pods, each with one `sleep` container, left idle for
//   --settle seconds; then PSS (proportional set size: a page mapped by n
//   processes counts 1/n to each) of each pod's QEMU, split by mapping
//   (lib/smaps.ts: TCG buffer, guest RAM, kernel image, initramfs, DAX
//   rootfs, QEMU itself), plus the daemon's share: this bench process's PSS
//   (it runs the same controller the daemon does) divided by the pods. The
//   drop in MemAvailable while the pods run is the host's view of the same
//   cost (page tables, page cache, slab included), and both give a density
//   estimate: how many idle pods fit before 90 % of RAM is in use
//   (extrapolated from the pods measured).
// * Density by filling (--fill): after the --idle pods, more idle pods are
//   started --parallel at a time until the next batch would take the host
//   past 90 % of its RAM in use (or --fill-max pods); prints how many fit,
//   MemAvailable per pod, and the CPU the idle fleet's QEMUs use. Needs the
//   RAM it measures: run it on a machine nothing else needs at the time.
// * Memory merging (--ksm): the pods run with memory_merge (QEMU
//   mem-merge=on); after the idle measurement above, the host's KSM is
//   switched on (5000 pages every 20 ms), and once it has made three full
//   passes the same pods are measured again, with ksmd's CPU time to merge,
//   to keep scanning at that rate, and at the kernel's default rate. KSM's settings are put back at the end, also on Ctrl-C.
// * Templates (--template): the handler restores every pod's VM from its
//   template (template = true, no pool) instead of booting it; the template
//   is built before anything is measured. Starts are then template starts
//   (goal 2), and the idle pods' guest RAM is counted as each VM's own copies
//   plus an equal share of the template's whole memfd (goal 3's 64 MiB row).
// * TCG translation buffer (--tb-sweep): for each tb-size, --runs pod
//   starts with their container, each printed with QEMU's CPU time and the
//   buffer's resident size once the container is up: the start-time cost of
//   a smaller bound. --tb-size sets the bound of every other pod.
// Runs the controller directly (no gRPC) inside a throw-away network
// namespace, with images from a local docker-registry.

import { existsSync, fstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findGuestImage } from '../src/host/guest-image';
import { silentLogger } from '../src/log';
import { readHostFacts } from '../src/host/facts';
import { MicrovmController } from '../src/sandbox/microvm/controller';
import { decodeVmPodData } from '../src/sandbox/microvm/data';
import { measureGuestBootFloor } from './guest-boot';
import { benchPodConfig, busyboxContainerConfig, openVmBenchWorld, POD_NAMESPACES } from './lib/vm-bench';
import { Cleanup, runWithCleanup } from './lib/cleanup';
import { ksmCounters, ksmdCpuMs, ksmSavedKiB, runKsmUntilCleanup, setKsmRate, waitKsmScans } from './lib/ksm';
import { BUCKET_LABELS, BUCKETS, densityEstimate, meanBreakdown, parseMeminfo, parseSmaps, smapsBreakdown, TEMPLATE_MEMFD_PATH, templateRamShareKiB, totalPssKiB, type GuestFiles } from './lib/smaps';

const arg = (name: string, dflt: number, min = 1): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return v;
};
const strArg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pssKiB = (pid: number): number => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
const sec = (ms: number): string => (ms / 1000).toFixed(2);
const mib = (kib: number): string => (kib / 1024).toFixed(1);
const meminfo = () => parseMeminfo(readFileSync('/proc/meminfo', 'utf8'));
/** utime + stime of a process in ms (clock ticks are 100 Hz on Linux/x86). */
const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
/** The `Key: N kB` lines a container printed from /proc/meminfo, out of its CRI log. */
const guestMeminfo = (criLog: string): Record<string, number> => Object.fromEntries([...criLog.matchAll(/ F (\w+):\s+(\d+) kB$/gm)].map((m) => [m[1], Number(m[2])]));
/** The resident size of the template's memfd, which this process (the controller's) holds; 0 without one. */
const templateMemfdKiB = (): number => {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(TEMPLATE_MEMFD_PATH)) return (fstatSync(Number(fd)).blocks * 512) / 1024;
    } catch {
      /* the readdir's own fd, closed by now */
    }
  }
  return 0;
};
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(cleanup: Cleanup): Promise<void> {
  const runs = arg('--runs', 3);
  const idle = arg('--idle', 3);
  const floorRuns = arg('--floor-runs', 3);
  const parallel = arg('--parallel', 1);
  const settleS = arg('--settle', 10, 0);
  const smapsOut = strArg('--smaps-out');
  const fill = process.argv.includes('--fill');
  const fillMax = arg('--fill-max', 150);
  const ksm = process.argv.includes('--ksm');
  const template = process.argv.includes('--template');
  const tbSize = strArg('--tb-size');
  const tbSweep = (strArg('--tb-sweep') ?? '')
    .split(',')
    .filter((x) => x !== '')
    .map(Number);
  const guest = findGuestImage(process.env.VMPOD_GUEST_DIR);
  if ('missing' in guest) throw new Error(`guest image: ${guest.missing}`);
  if (guest.manifest.agent !== 'bundle') throw new Error(`guest image ${guest.dir} has no agent bundle`);

  const files: GuestFiles = {
    kernels: [join(guest.dir, guest.manifest.parts.vmlinux.file), join(guest.dir, guest.manifest.parts.bzImage.file)],
    initrd: join(guest.dir, guest.manifest.parts.initramfs.file),
    rootfs: join(guest.dir, guest.manifest.parts.rootfs.file),
  };
  const w = await openVmBenchWorld({ tmpPrefix: 'vpb-', netnsPrefix: 'vmpod-bench-net-', cniName: 'vmbench', bridge: 'vmbenchbr0', subnet: '10.88.92.0/24', guest });
  // Also on Ctrl-C: a --fill run takes many minutes and holds dozens of VMs.
  cleanup.add('VM pods, network namespace, registry and work dir', () => w.close());
  const { cfg, vmCfg, images, image, net } = w;
  if (tbSize !== undefined) vmCfg.tcg_tb_size_mib = Number(tbSize);
  // Mergeable RAM changes nothing until KSM runs, which it does only for the second measurement.
  if (ksm) vmCfg.memory_merge = true;
  // Every pod's VM restored from the handler's template (no pool): its start and its memory instead of a cold boot's.
  if (template) vmCfg.template = true;
  const c = new MicrovmController({ handler: 'vm', config: cfg, microvm: vmCfg, host: readHostFacts(), logger: silentLogger });
  w.controllers.push(c);
  // The template is built (one boot) as the controller starts: no measured start may wait for it.
  const templateT0 = Date.now();
  await c.poolSettled();
  if (template) console.log(`template built (boot to agent-ready, save, seal) in ${sec(Date.now() - templateT0)} s`);
  const forget = (id: string): void => {
    const i = w.pods.findIndex((p) => p.id === id);
    if (i >= 0) w.pods.splice(i, 1);
  };

  let seq = 0;
  const startPod = async (ctl: MicrovmController = c) => {
    const id = `bench${process.pid}x${String(seq++).padStart(6, '0')}`.padEnd(64, '0');
    const config = benchPodConfig(w, id, `bench-${seq}`, 'bench');
    const t0 = Date.now();
    const n = await net.setup({ id, name: `bench-${seq}`, namespace: 'bench', uid: id, hostNetwork: false, portMappings: [] });
    w.pods.push({ c: ctl, net, id });
    const data = await ctl.createSandbox({ id, config, namespaces: POD_NAMESPACES, hostname: 'bench', netnsPath: n.netnsPath, ips: [n.ips.ip], log: silentLogger });
    const ready = Date.now();
    return { id, config, data, netnsPath: n.netnsPath, cniMs: 0, readyMs: ready - t0 };
  };

  type Pod = Awaited<ReturnType<typeof startPod>>;
  const handle = (pod: Pod) => ({
    id: pod.id,
    config: pod.config,
    namespaces: POD_NAMESPACES,
    hostname: 'bench',
    netnsPath: pod.netnsPath,
    data: pod.data,
  });
  // One busybox container that prints a line and sleeps; resolves once the line is in its CRI log.
  let cseq = 0;
  const runContainer = async (pod: Pod, ctl: MicrovmController = c, script = 'echo up; exec sleep 3600') => {
    const sbh = handle(pod);
    const cid = `c${cseq++}`.padEnd(64, '0');
    const layout = await images.prepareRootfs(cid, image.id);
    await images.mountRootfs(cid);
    const logPath = join(w.dir, 'logs', pod.id, 'c.log');
    const cconf = busyboxContainerConfig(image.id, script);
    const made = await ctl.createContainer({ id: cid, sandbox: sbh, config: cconf, image: image.config, rootfs: layout.mountpoint, logPath, log: silentLogger });
    const ch = { id: cid, logPath, data: made.data };
    await ctl.startContainer(sbh, ch);
    while (!(existsSync(logPath) && readFileSync(logPath, 'utf8').includes(' F up'))) await new Promise((res) => setTimeout(res, 20));
    return ch;
  };

  const samples: { total: number; ready: number; container: number; phases: Record<string, number> }[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = Date.now();
    const pod = await startPod();
    const sbh = handle(pod);
    const tc = Date.now();
    const ch = await runContainer(pod);
    const done = Date.now();
    samples.push({ total: done - t0, ready: pod.readyMs, container: done - tc, phases: decodeVmPodData(pod.data, pod.id).startPhasesMs });
    await c.removeContainer(sbh, ch, silentLogger);
    await images.releaseRootfs(ch.id);
    await c.removeSandbox(sbh, silentLogger);
    await net.teardown(pod.id);
    forget(pod.id);
  }

  if (tbSweep.length > 0) {
    // Round robin over the sizes, so that a change in the machine's load during the sweep falls on every size alike.
    const loadBefore = loadavg();
    const rows = new Map<number, { ready: number; total: number; cpu: number; tcg: number }[]>(tbSweep.map((size) => [size, []]));
    for (let r = 0; r < runs; r++)
      for (const size of tbSweep) {
        const cs = new MicrovmController({ handler: 'vm', config: cfg, microvm: { ...vmCfg, tcg_tb_size_mib: size }, host: readHostFacts(), logger: silentLogger });
        w.controllers.push(cs);
        const t0 = Date.now();
        const pod = await startPod(cs);
        const ch = await runContainer(pod, cs);
        const totalMs = Date.now() - t0;
        const pid = decodeVmPodData(pod.data, pod.id).pid;
        const tcg = smapsBreakdown(parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8')), files).tcg.rssKiB;
        rows.get(size)?.push({ ready: pod.readyMs, total: totalMs, cpu: cpuMs(pid), tcg });
        const sbh = handle(pod);
        await cs.removeContainer(sbh, ch, silentLogger);
        await images.releaseRootfs(ch.id);
        await cs.removeSandbox(sbh, silentLogger);
        await net.teardown(pod.id);
        forget(pod.id);
      }
    console.log(`TCG translation buffer bound (tb-size) vs start, ${runs} run(s) each in turn, medians; load average ${loadBefore} before, ${loadavg()} after`);
    console.log('  tb-size MiB   pod ready s   total s   QEMU CPU s   TCG buffer resident MiB');
    for (const [size, xs] of rows) {
      const m = (f: (x: (typeof xs)[number]) => number): number => median(xs.map(f));
      console.log(
        `  ${String(size).padStart(11)} ${sec(m((x) => x.ready)).padStart(13)} ${sec(m((x) => x.total)).padStart(9)} ${sec(m((x) => x.cpu)).padStart(12)} ${mib(m((x) => x.tcg)).padStart(25)}`,
      );
    }
  }

  const floor = await measureGuestBootFloor({ runs: floorRuns, guestDir: guest.dir });
  const floorMs = floor.median.nodeMs;
  const total = median(samples.map((s) => s.total));
  console.log(`guest ${guest.hash.slice(0, 12)}, TCG, ${template ? 'every pod restored from a template' : 'cold boots'}, ${runs} run(s), medians in seconds`);
  const phaseNames = Object.keys(samples[0].phases);
  for (const p of phaseNames) console.log(`  ${p.padEnd(14)} ${sec(median(samples.map((s) => s.phases[p] ?? 0)))}`);
  console.log(`  pod ready      ${sec(median(samples.map((s) => s.ready)))}  (CNI ADD + all of the above)`);
  console.log(`  container      ${sec(median(samples.map((s) => s.container)))}  (create + start + first log line)`);
  console.log(`  total          ${sec(total)}`);
  console.log(`guest-boot floor (QEMU start → Node.js ready in the guest): ${sec(floorMs)} → pod start / floor = ${(total / floorMs).toFixed(2)}x (goal 1, cold: ≤ 1.10x)`);
  const readyRatio = median(samples.map((s) => s.ready)) / floorMs;
  console.log(`  pod ready / floor = ${readyRatio.toFixed(2)}x${template ? ` (goal 2, a template start: ≤ 0.5x: ${readyRatio <= 0.5 ? 'met' : 'NOT met'})` : ''}`);

  // Idle pods, `parallel` at a time; memory is measured against MemAvailable before the first.
  const before = meminfo();
  const daemonBeforeKiB = pssKiB(process.pid);
  const oneReadyMs = median(samples.map((s) => s.ready));
  const idlePods: Pod[] = [];
  while (idlePods.length < idle) {
    const n = Math.min(parallel, idle - idlePods.length);
    const t0 = Date.now();
    const batch = await Promise.all(Array.from({ length: n }, () => startPod()));
    const lastMs = Date.now() - t0;
    idlePods.push(...batch);
    if (n > 1)
      console.log(
        `${n} VM pods started at once: last ready after ${sec(lastMs)} s; ${n} × one start (median pod ready above) = ${sec(n * oneReadyMs)} s → ${((n * oneReadyMs) / lastMs).toFixed(2)}x faster than one after another (${sec(lastMs / n)} s per pod)`,
      );
  }
  // Each idle container prints the guest's /proc/meminfo (a container in a VM pod sees the guest's) just before the bench measures.
  const idleChs: Awaited<ReturnType<typeof runContainer>>[] = [];
  for (const p of idlePods) idleChs.push(await runContainer(p, undefined, `echo up; sleep ${Math.max(0, settleS - 1)}; cat /proc/meminfo; exec sleep 3600`));
  await new Promise((res) => setTimeout(res, settleS * 1000));

  const pids = idlePods.map((p) => decodeVmPodData(p.data, p.id).pid);
  // copyFileSync would copy nothing: /proc files have size 0.
  if (smapsOut) writeFileSync(smapsOut, readFileSync(`/proc/${pids[0]}/smaps`));
  /** PSS of the idle pods by mapping, with the daemon's share, and the host's MemAvailable drop per pod; printed under `title`. */
  const measureIdle = (title: string) => {
    const breakdowns = pids.map((pid) => smapsBreakdown(parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8')), files));
    const after = meminfo();
    const daemonKiB = pssKiB(process.pid);
    const mean = meanBreakdown(breakdowns);
    const daemonShare = daemonKiB / idle;
    if (template) {
      // The template's RAM as the host holds it: each VM's own copies plus its share of the whole memfd, not PSS.
      const memfdKiB = templateMemfdKiB();
      const share = templateRamShareKiB({ ownCopiesKiB: mean.template.anonKiB, memfdKiB, vms: idle });
      console.log(
        `  template RAM per pod: ${mib(mean.template.anonKiB)} MiB of its own copies + the memfd's ${mib(memfdKiB)} MiB / ${idle} pods = ${mib(share)} MiB (its PSS as mapped: ${mib(mean.template.pssKiB)}); counted below instead of the PSS`,
      );
      mean.template.pssKiB = share;
    }
    console.log(`${title}; load average ${loadavg()}`);
    console.log(`  per pod, mean over the ${idle} QEMUs (MiB)     PSS   private     RSS   mapped`);
    for (const k of BUCKETS)
      console.log(`  ${BUCKET_LABELS[k].padEnd(42)} ${mib(mean[k].pssKiB).padStart(7)} ${mib(mean[k].privateKiB).padStart(9)} ${mib(mean[k].rssKiB).padStart(7)} ${mib(mean[k].sizeKiB).padStart(8)}`);
    console.log(`  ${'daemon share (bench process PSS / pods)'.padEnd(42)} ${mib(daemonShare).padStart(7)}   (bench process ${mib(daemonKiB)} MiB, ${mib(daemonBeforeKiB)} before the idle pods)`);
    const withTcg = totalPssKiB(mean) + daemonShare;
    const withoutTcg = totalPssKiB(mean, ['tcg']) + daemonShare;
    console.log(
      `  per pod with the daemon share: ${mib(withTcg)} MiB; without the TCG buffer: ${mib(withoutTcg)} MiB (goal ≤ ${template ? '64 with templates' : '128 cold'}: ${withoutTcg <= (template ? 64 : 128) * 1024 ? 'met' : 'NOT met'})`,
    );
    const dropKiB = (before.availableKiB - after.availableKiB) / idle;
    console.log(`  MemAvailable: ${mib(before.availableKiB)} MiB before the idle pods, ${mib(after.availableKiB)} MiB with them → ${mib(dropKiB)} MiB per pod (of ${mib(after.totalKiB)} MiB)`);
    return { withTcg, withoutTcg, dropKiB };
  };
  const { withTcg, withoutTcg, dropKiB } = measureIdle(`idle VM pods: ${idle}, each with one sleep container, after ${settleS} s idle${ksm ? ' (memory_merge on, KSM not yet running)' : ''}`);
  const guestViews: Record<string, number>[] = [];
  for (const ch of idleChs) {
    const deadline = Date.now() + 30_000;
    let text = '';
    while (!/ F MemAvailable:/.test(text) && Date.now() < deadline) {
      text = readFileSync(ch.logPath, 'utf8');
      await new Promise((res) => setTimeout(res, 200));
    }
    guestViews.push(guestMeminfo(text));
  }
  const gv = (k: string): number => median(guestViews.map((g) => g[k] ?? 0));
  console.log(
    `  the guest's own view (median of the pods' /proc/meminfo, MiB): MemTotal ${mib(gv('MemTotal'))}, used (MemTotal − MemFree) ${mib(gv('MemTotal') - gv('MemFree'))}: AnonPages ${mib(gv('AnonPages'))}, Cached ${mib(gv('Cached'))} (Shmem ${mib(gv('Shmem'))}), Slab ${mib(gv('Slab'))}, PageTables ${mib(gv('PageTables'))}, KernelStack ${mib(gv('KernelStack'))}; the rest is the kernel image, memmap and allocations meminfo does not name`,
  );
  const byPss = densityEstimate({ totalKiB: before.totalKiB, availableKiB: before.availableKiB, perPodKiB: withTcg });
  const byDrop = densityEstimate({ totalKiB: before.totalKiB, availableKiB: before.availableKiB, perPodKiB: dropKiB });
  console.log(
    `  density (extrapolated from these ${idle} pods, not measured by filling the machine): until 90 % of ${mib(before.totalKiB)} MiB is used, ${byPss} idle pods at ${mib(withTcg)} MiB PSS each; ${byDrop} at the ${mib(dropKiB)} MiB of MemAvailable each took`,
  );

  if (ksm) {
    // The same pods, merged: KSM on at a rate that makes its three passes over ten idle guests (~1 GiB resident in all) take seconds.
    const cpu0 = ksmdCpuMs();
    const t0 = Date.now();
    runKsmUntilCleanup(cleanup, { pagesToScan: 5000, sleepMs: 20 });
    const merged = await waitKsmScans(3, 900_000);
    const mergeMs = Date.now() - t0;
    const cpu1 = ksmdCpuMs();
    await new Promise((res) => setTimeout(res, 10_000));
    const cpu2 = ksmdCpuMs();
    // What keeping them merged costs at the kernel's default rate (100 pages / 20 ms), a rate an operator would choose.
    setKsmRate({ pagesToScan: 100, sleepMs: 20 });
    const scans2 = ksmCounters().fullScans;
    await new Promise((res) => setTimeout(res, 10_000));
    const cpu3 = ksmdCpuMs();
    const k = measureIdle(`the same ${idle} pods after KSM's three full passes (${sec(mergeMs)} s)`);
    const kept = ksmCounters();
    const perSecond = (a?: number, b?: number, ms = 10_000): string => (a !== undefined && b !== undefined ? `${(((b - a) / ms) * 1000).toFixed(0)} ms/s` : 'ksmd not found');
    console.log(
      `  KSM: ${kept.pagesShared} pages kept for ${kept.pagesSharing} sharers → ${mib(ksmSavedKiB(kept) / idle)} MiB saved per pod; ksmd CPU ${perSecond(cpu0, cpu1, mergeMs)} while merging, ${perSecond(cpu1, cpu2)} over the next 10 s at the same rate (${scans2 - merged.fullScans} more passes), ${perSecond(cpu2, cpu3)} over 10 s at the kernel's default 100 pages / 20 ms (${kept.fullScans - scans2} more passes)`,
    );
    console.log(
      `  merged / not merged, same pods, without the TCG buffer: ${mib(k.withoutTcg)} / ${mib(withoutTcg)} MiB = ${(k.withoutTcg / withoutTcg).toFixed(2)}x; MemAvailable drop per pod ${mib(k.dropKiB)} / ${mib(dropKiB)} MiB`,
    );
  }

  if (fill) {
    // Goal 4's density by filling, not by extrapolation: more idle pods (each with its sleep container),
    // `parallel` at a time, while the next batch is expected to stay within 90 % of RAM in use. The
    // expectation is the MemAvailable drop per pod so far; a pod's memory still grows a little after its
    // start, so the check also runs on what is measured after each batch, and the fill stops at either.
    const limitKiB = before.totalKiB * 0.9;
    const usedKiB = (): number => before.totalKiB - meminfo().availableKiB;
    const pods = [...idlePods];
    const t0 = Date.now();
    let stopped = 'the next batch would pass 90 %';
    while (pods.length < fillMax && !cleanup.started) {
      const perPodKiB = (before.availableKiB - meminfo().availableKiB) / pods.length;
      const n = Math.min(parallel, fillMax - pods.length);
      if (usedKiB() + n * perPodKiB > limitKiB) break;
      const batch = await Promise.all(
        Array.from({ length: n }, async () => {
          const pod = await startPod();
          await runContainer(pod);
          return pod;
        }),
      );
      pods.push(...batch);
      console.log(`  fill: ${pods.length} idle VM pods, ${((usedKiB() / before.totalKiB) * 100).toFixed(1)} % of RAM in use, ${sec(Date.now() - t0)} s, load average ${loadavg()}`);
      if (usedKiB() > limitKiB) {
        stopped = 'the last batch passed 90 %';
        break;
      }
      if (pods.length >= fillMax) stopped = `--fill-max ${fillMax} reached`;
    }
    await new Promise((res) => setTimeout(res, settleS * 1000));
    const end = meminfo();
    const fillPids = pods.map((p) => decodeVmPodData(p.data, p.id).pid);
    const cpu0 = fillPids.map(cpuMs);
    await new Promise((res) => setTimeout(res, 10_000));
    const idleCpuMs = fillPids.map(cpuMs).reduce((a, b, i) => a + b - cpu0[i], 0);
    console.log(
      `density, measured by filling: ${pods.length} idle VM pods (${stopped}) with ${(((end.totalKiB - end.availableKiB) / end.totalKiB) * 100).toFixed(1)} % of ${mib(end.totalKiB)} MiB in use after ${settleS} s idle; ${mib((before.availableKiB - end.availableKiB) / pods.length)} MiB of MemAvailable per pod; filled in ${sec(Date.now() - t0)} s; the ${idle} pods above extrapolated to ${byDrop}`,
    );
    console.log(`  the idle fleet's QEMUs used ${(idleCpuMs / 10_000).toFixed(2)} CPU over 10 s (${(idleCpuMs / 10 / pods.length).toFixed(1)} ms per pod per second); load average ${loadavg()}`);
  }
}

if (require.main === module) {
  const cleanup = new Cleanup();
  void runWithCleanup(cleanup, () => main(cleanup)).then((code) => (process.exitCode = code));
}
