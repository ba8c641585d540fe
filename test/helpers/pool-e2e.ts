// The end-to-end check of pods handed pre-made VMs (sandbox/microvm/pool.ts),
// shared by test/e2e/vm-pool (each VM booted for the pool) and
// test/e2e/vm-template (each restored from the handler's template,
// template.ts): one daemon (in-process CRI server, the real microvm
// controller and QEMU under TCG) with a pool of one. Two pods start on pool
// VMs (launched for the pool, as QEMU's -name says) and run a container
// each; each is its own: its own hostname and RNG output, its own pod IP on
// the hot-plugged NIC with the gateway reachable, and the second pod's
// container cannot find a file the first pod's container wrote. Booted VMs
// have their own kernel (boot_id); restored ones go on from the template's
// (docs/security.md) yet read different RNG bytes (the host's entropy at
// CreateSandbox reseeds it), and map the sealed template RAM copy-on-write.
// After the pods are removed, a daemon stop leaves no QEMU of the test
// running (the pool's spare VM included), and of a template nothing either.

import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon } from '../../common/native/addon';
import { leftoverMounts } from './daemon';
import { vmE2e, vmE2eGuest } from './vm-e2e';

export interface PoolE2eOptions {
  template: boolean;
  tmpPrefix: string;
  netnsPrefix: string;
  cniName: string;
  /** A /24 of its own; the gateway is .1. */
  subnet: string;
  imageTag: string;
}

/** The fds of this process (the in-process daemon) that are a template's RAM. */
function templateMemfds(): number[] {
  const out: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:vmpod-template')) out.push(Number(fd));
    } catch {
      /* closed meanwhile (the readdir's own fd) */
    }
  }
  return out;
}

/** PIDs of processes whose command line names `dir` (this test's QEMUs). */
function qemusOf(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu-system') && cmd.includes(dir)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function poolPodsE2e(t: Test, o: PoolE2eOptions): void {
  const guest = vmE2eGuest();
  if ('missing' in guest) {
    t.fail(`VM ${o.template ? 'template' : 'pool'} e2e test cannot run: ${guest.missing}`);
    return;
  }
  const world = vmE2e({
    guest,
    tmpPrefix: o.tmpPrefix,
    netnsPrefix: o.netnsPrefix,
    cniName: o.cniName,
    subnet: o.subnet,
    imageTag: o.imageTag,
    busyboxLinks: ['sleep', 'hostname', 'head', 'od', 'find', 'ip', 'ping', 'echo'],
  });
  const { dir, cfg, podConfig, run } = world;
  world.vmCfg.pool_size = 1;
  world.vmCfg.template = o.template;
  const gateway = o.subnet.replace(/\.0\/24$/, '.1');

  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test(`two pods start on ${o.template ? 'VMs restored from the template' : 'pool VMs'}, each its own`, async (t) => {
    const { client } = world.daemon();
    const exec = async (cid: string, cmd: string): Promise<string> => {
      const r = await client.runtime.ExecSync({ container_id: cid, cmd: ['sh', '-c', cmd], timeout: 60 }, 90_000);
      t.equal(r.exit_code, 0, `${cmd} exits 0 (${r.stderr.toString().trim()})`);
      return r.stdout.toString().trim();
    };
    const pods: { id: string; cid: string; ip: string }[] = [];
    for (const name of ['pool-a', 'pool-b']) {
      const pod = podConfig(name);
      const { pod_sandbox_id: id } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
      const cid = await run(id, pod, 'c', ['sleep', '3600']);
      const st = await client.runtime.PodSandboxStatus({ pod_sandbox_id: id });
      pods.push({ id, cid, ip: st.status?.network?.ip ?? '' });
      // The VM the pod runs in: its launch record, reached through the state dir's link, is the pod's now.
      const rec = JSON.parse(readFileSync(join(cfg.state, 'vm', id, 'vm.json'), 'utf8')) as { id: string; pid: number };
      t.equal(rec.id, id, `${name}: the launch record names the pod`);
      // QEMU's -name is what it was launched as: a pool VM's name, not the pod's.
      const cmdline = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').split('\0');
      t.match(cmdline[cmdline.indexOf('-name') + 1], /^guest=vmpod-vmpool-[0-9a-f]+,/, `${name}: the pod runs in a VM launched for the pool`);
      t.equal(await exec(cid, 'hostname'), name, `${name}: the container has the pod's hostname`);
    }
    const [a, b] = pods;
    const rec = (id: string) => JSON.parse(readFileSync(join(cfg.state, 'vm', id, 'vm.json'), 'utf8')) as { pid: number };
    t.not(rec(a.id).pid, rec(b.id).pid, 'two QEMU processes: no pool VM was handed to both pods');

    if (o.template) {
      // (Not boot_id: the kernel makes it at its first read, which comes after the restore.)
      for (const p of [a, b]) {
        const maps = readFileSync(`/proc/${rec(p.id).pid}/maps`, 'utf8');
        t.match(maps, /^\S+ rw-p \S+ \S+ \S+\s+\/memfd:vmpod-template/m, `pod ${p.id.slice(0, 12)}: guest RAM is the template's memfd, mapped private (copy-on-write)`);
        t.notMatch(maps, /^\S+ rw-s \S+ \S+ \S+\s+\/memfd:vmpod-template/m, `pod ${p.id.slice(0, 12)}: no shared writable mapping of it`);
      }
      const addon = loadAddon();
      const fds = templateMemfds();
      t.equal(fds.length, 1, 'the daemon holds one template RAM file');
      const c = addon.memfdConstants!;
      for (const fd of fds) t.equal(addon.memfdSeals!(fd), c.F_SEAL_WRITE | c.F_SEAL_SHRINK | c.F_SEAL_GROW | c.F_SEAL_SEAL, 'sealed: no restored QEMU can change it');
    } else {
      const bootA = await exec(a.cid, 'cat /proc/sys/kernel/random/boot_id');
      const bootB = await exec(b.cid, 'cat /proc/sys/kernel/random/boot_id');
      t.not(bootA, bootB, 'each guest kernel booted on its own (different boot_id)');
    }
    const rngA = await exec(a.cid, 'head -c 32 /dev/urandom | od -An -tx1');
    const rngB = await exec(b.cid, 'head -c 32 /dev/urandom | od -An -tx1');
    for (const p of [a, b]) {
      // The agent says so on the console (drained into the log about once a second).
      const { consoleLog } = JSON.parse(readFileSync(join(cfg.state, 'vm', p.id, 'vm.json'), 'utf8')) as { consoleLog: string };
      let log = '';
      for (let i = 0; i < 50 && !log.includes('RNG reseeded from host entropy'); i++) {
        await new Promise((r) => setTimeout(r, 200));
        log = readFileSync(consoleLog, 'utf8');
      }
      t.match(log, /RNG reseeded from host entropy/, `pod ${p.id.slice(0, 12)}: its agent reseeded the kernel's RNG from the host's entropy`);
    }
    t.not(rngA, rngB, o.template ? "the guests read different bytes from /dev/urandom (each reseeded from the host's entropy at CreateSandbox)" : 'the guests read different bytes from /dev/urandom');

    for (const p of pods) {
      t.ok(p.ip, `pod ${p.id.slice(0, 12)} has an IP`);
      t.match(await exec(p.cid, 'ip -o -4 addr show eth0'), p.ip, "the guest's eth0 (the hot-plugged NIC) holds the pod IP");
      await exec(p.cid, `ping -c 1 -W 10 ${gateway} >/dev/null`);
    }

    await exec(a.cid, 'echo secret-of-a > /pool-a-marker');
    t.equal(await exec(a.cid, 'cat /pool-a-marker'), 'secret-of-a', 'the first pod wrote its file');
    t.equal(await exec(b.cid, 'find / -xdev -name pool-a-marker 2>/dev/null; ls /run/vmpod 2>/dev/null; true'), '', "the second pod's container finds nothing of the first pod's");
    // On the host: each pod's share holds its own container only.
    for (const p of pods) t.same(readdirSync(join(cfg.state, 'sandboxes', p.id, 'share-src', 'c')), [p.cid], `pod ${p.id.slice(0, 12)}'s share holds its own container only`);

    for (const p of pods) {
      await client.runtime.StopPodSandbox({ pod_sandbox_id: p.id }, 120_000);
      await client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id }, 120_000);
    }
    t.same(
      leftoverMounts(dir, cfg.state).filter((m) => !m.includes('microvm-pool')),
      [],
      'no mount of the pods is left',
    );
  });

  t.test('a daemon stop kills the spare pool VM and leaves nothing of the pool', async (t) => {
    await world.daemon().cri.close();
    t.same(qemusOf(dir), [], 'no QEMU of this test runs after the stop');
    const pool = join(cfg.state, 'microvm-pool', 'vm');
    t.same(readdirSync(join(pool, 'sandboxes')), [], 'no pool VM dir is left');
    t.same(
      execFileSync('sh', ['-c', `grep -o ' ${pool}/sandboxes/[^ ]*' /proc/mounts || true`])
        .toString()
        .trim(),
      '',
      'no pool share mount is left',
    );
    // The pool's netns pins sit in a shared bind mount of their dir: it went with the pool (critest found it left).
    t.same(leftoverMounts(dir, cfg.state), [], 'no mount is left under the daemon directory, the pool netns pin dir included');
    t.same(
      readdirSync(pool).filter((e) => e === 'template' && readdirSync(join(pool, e)).length > 0),
      [],
      'no template state file is left',
    );
    t.same(templateMemfds(), [], 'the daemon holds no template RAM after the stop');
  });
}
