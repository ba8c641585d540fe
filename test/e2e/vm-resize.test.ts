// In-place resize of ONE VM pod through the CRI API (docs/resize.md), in
// kubelet's order: UpdatePodSandboxResources before a container grows, after
// it shrank. Seen from inside the guest with ExecSync: nproc and MemTotal
// grow (a hot-plugged vCPU onlined by the agent, virtio-mem memory onlined
// by the kernel), then shrink back (vCPU ejected, virtio-mem blocks given
// back). ContainerStatus.resources reports what is in force; a size beyond
// the VM's maxmem headroom is FAILED_PRECONDITION naming the pod and the
// resource, and changes nothing.

import t from 'tap';
import { cpus } from 'node:os';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { CriClient } from '../helpers/cri-client';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

// One VM boot under TCG plus hot-plugs on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

const MIB = 1024 * 1024;
const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);
if ('missing' in guest) {
  t.fail(`VM resize e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'vrs-',
    netnsPrefix: 'vmpod-vrs-net-',
    cniName: 'vmpodvrs',
    subnet: '10.88.93.0/24',
    imageTag: 'vrs',
    busyboxLinks: ['sleep', 'nproc', 'cat', 'grep'],
  });
  const { podConfig, run, vmCfg } = world;
  let client: CriClient;

  t.before(async () => {
    ({ client } = await world.start());
  });
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('a VM pod grows and shrinks in place, seen from the guest', async (t) => {
    const pod = podConfig('resize');
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const main = await run(podId, pod, 'main', ['/bin/sleep', '100000']);
    const sh = async (cmd: string): Promise<string> => {
      const r = await client.runtime.ExecSync({ container_id: main, cmd: ['/bin/sh', '-c', cmd], timeout: 60 }, 90_000);
      t.equal(r.exit_code, 0, `${cmd} exits 0 (${r.stderr.toString()})`);
      return r.stdout.toString().trim();
    };
    const guestSize = async (): Promise<{ cpus: number; memMib: number }> => {
      const out = (await sh('nproc; grep MemTotal /proc/meminfo')).split('\n');
      return { cpus: Number(out[0]), memMib: Math.round(Number(/(\d+) kB/.exec(out[1] ?? '')?.[1] ?? 0) / 1024) };
    };

    const before = await guestSize();
    t.equal(before.cpus, vmCfg.vcpus, `the guest boots with the handler's ${vmCfg.vcpus} vCPU(s)`);
    // Grow by one vCPU (when the host has one more; vCPUs are capped at the host's) and 256 MiB.
    const wantCpus = Math.min(vmCfg.vcpus + 1, cpus().length);
    t.ok(wantCpus > before.cpus, `the host has a CPU to grow into (${cpus().length} CPUs)`);
    const grown = { cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: String(256 * MIB) };
    await client.runtime.UpdatePodSandboxResources({ pod_sandbox_id: podId, resources: grown }, 120_000);
    await client.runtime.UpdateContainerResources({ container_id: main, linux: grown }, 60_000);
    const big = await guestSize();
    t.equal(big.cpus, wantCpus, 'nproc in the guest counts the hot-plugged vCPU');
    t.ok(big.memMib >= before.memMib + 250, `MemTotal grew by about 256 MiB (${before.memMib} -> ${big.memMib} MiB)`);
    const st = await client.runtime.ContainerStatus({ container_id: main });
    t.equal(String(st.status?.resources?.linux?.memory_limit_in_bytes), String(256 * MIB), 'ContainerStatus reports the memory limit in force');
    t.equal(String(st.status?.resources?.linux?.cpu_quota), '100000', 'and the CPU quota');

    // Beyond the maxmem headroom (boot memory again): refused, nothing changes.
    const tooBig = { memory_limit_in_bytes: String((vmCfg.memory_mib + 64) * 2 * MIB) };
    await t.rejects(
      client.runtime.UpdatePodSandboxResources({ pod_sandbox_id: podId, resources: tooBig }, 60_000),
      { code: GrpcStatus.FAILED_PRECONDITION, details: new RegExp(`pod sandbox ${podId}: memory: .*maxmem`) },
      'a VM beyond maxmem: FAILED_PRECONDITION naming pod and resource',
    );
    t.same(await guestSize(), big, 'the refused resize changed nothing in the guest');

    // Shrink: the container first, then the pod (kubelet's order).
    const small = { cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: String(64 * MIB) };
    await client.runtime.UpdateContainerResources({ container_id: main, linux: small }, 60_000);
    await client.runtime.UpdatePodSandboxResources({ pod_sandbox_id: podId, resources: { cpu_quota: '0', memory_limit_in_bytes: '0' } }, 120_000);
    const after = await guestSize();
    t.equal(after.cpus, before.cpus, 'the vCPU was unplugged');
    t.ok(Math.abs(after.memMib - before.memMib) <= 2, `MemTotal is back (${after.memMib} MiB, ${before.memMib} at boot)`);
    const st2 = await client.runtime.ContainerStatus({ container_id: main });
    t.equal(String(st2.status?.resources?.linux?.memory_limit_in_bytes), String(64 * MIB), 'ContainerStatus reports the shrunk limit');

    await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
  });
}
