// Pods on pre-booted pool VMs (`pool_size`, sandbox/microvm/pool.ts), end to
// end: one daemon (in-process CRI server, the real microvm controller and
// QEMU under TCG) with a pool of one. Two pods start from the pool (their
// VMs were launched for the pool, as QEMU's -name says) and run a container
// each; each is its own: its own hostname, its own kernel (boot_id) and
// RNG output, its own pod IP on the hot-plugged NIC with the gateway
// reachable, and the second pod's container cannot find a file the first
// pod's container wrote. After the pods are removed, a daemon stop leaves
// no QEMU of this test running (the pool's spare VM included).
//
// VMs: three boots (the pool's first VM, its refill for the second pod, the
// spare the stop kills at once), overlapping; the pods themselves boot
// nothing. Measured: 44 s alone, 82 s at load 4-6.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { leftoverMounts } from '../helpers/daemon';
import { vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest();

// Three TCG boots, partly in parallel, on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

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

if ('missing' in guest) {
  t.fail(`VM pool e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'vpl-',
    netnsPrefix: 'vmpod-pool-',
    cniName: 'vmpool',
    subnet: '10.88.83.0/24',
    imageTag: 'pool',
    busyboxLinks: ['sleep', 'hostname', 'head', 'od', 'find', 'ip', 'ping', 'echo'],
  });
  const { dir, cfg, podConfig, run } = world;
  world.vmCfg.pool_size = 1;

  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('two pods start on pool VMs, each its own', async (t) => {
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

    const bootA = await exec(a.cid, 'cat /proc/sys/kernel/random/boot_id');
    const bootB = await exec(b.cid, 'cat /proc/sys/kernel/random/boot_id');
    t.not(bootA, bootB, 'each guest kernel booted on its own (different boot_id)');
    const rngA = await exec(a.cid, 'head -c 32 /dev/urandom | od -An -tx1');
    const rngB = await exec(b.cid, 'head -c 32 /dev/urandom | od -An -tx1');
    t.not(rngA, rngB, 'the guests read different bytes from /dev/urandom');

    for (const p of pods) {
      t.ok(p.ip, `pod ${p.id.slice(0, 12)} has an IP`);
      t.match(await exec(p.cid, 'ip -o -4 addr show eth0'), p.ip, "the guest's eth0 (the hot-plugged NIC) holds the pod IP");
      await exec(p.cid, 'ping -c 1 -W 10 10.88.83.1 >/dev/null');
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
  });
}
