// The operator debug CLI against a real VM pod (issue 21): one VM pod under
// TCG through the CRI API (in-process server with the real microvm
// controller and QEMU, as in vm-console-flood.test.ts), the admin socket
// served over that daemon's pod records and controllers as the daemon
// serves it, and the real CLI (dist/src/main.js) run against it. `vmpod vm`
// names the QEMU process that really runs the pod; `vmpod logs --agent`
// returns the guest agent's own log lines; `vmpod console` shows the boot.
// The same pod's stats (issue 19): its network counters move when the node
// fetches a file from it, ListPodSandboxMetrics carries QEMU's own figures
// (RSS, CPU, threads) and the overhead, and `vmpod overhead` prints them.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_SOCKET_NAME } from '../../src/admin/client';
import { PodsView } from '../../src/admin/pods-view';
import { listenAdmin } from '../../src/admin/server';
import { INIT_HANDOVER_MARKER } from '../../src/sandbox/microvm/start';
import { MAIN } from '../helpers/daemon';
import { vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest();

// One VM boot under TCG on a loaded machine.
t.setTimeout(8 * 60_000);

/** Asynchronous: the admin server answering it runs in this process. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr });
    });
  });
}

if ('missing' in guest) {
  t.fail(`admin CLI VM e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({ guest, tmpPrefix: 'vac-', netnsPrefix: 'vmpod-admcli-', cniName: 'vmadm', subnet: '10.88.98.0/24', imageTag: 'admcli', namespace: 'e2e-admin' });
  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('vmpod vm, console and logs --agent show a running VM pod', async (t) => {
    const { cri, client } = world.daemon();
    // The CLI finds the admin socket next to the CRI socket it is given.
    const listen = ['--listen', join(world.dir, 'cri.sock')];
    // As the daemon composes it: `vmpod overhead` reads the pods' stats through the PodService.
    const admin = await listenAdmin(join(world.dir, ADMIN_SOCKET_NAME), new PodsView(cri.sandboxes, cri.controllers, { podMetrics: () => cri.pods.podMetrics(world.log) }), world.log);
    t.teardown(() => admin.close());

    const pod = world.podConfig('dbg');
    const { pod_sandbox_id: id } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const st = await client.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
    const qemu = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
    t.ok(qemu > 0, 'verbose status names the QEMU pid');

    const pods = await cli(['pods', ...listen]);
    t.equal(pods.code, 0, `vmpod pods exits 0 (${pods.stderr})`);
    t.match(pods.stdout, new RegExp(`^${id.slice(0, 13)}\\s+dbg\\s+e2e-admin\\s+vm\\s+READY\\s`, 'm'), 'lists the VM pod on handler vm');

    const vm = await cli(['vm', id.slice(0, 10), ...listen]);
    t.equal(vm.code, 0, `vmpod vm exits 0 (${vm.stderr})`);
    t.match(vm.stdout, /^isolation:\s+QEMU VM$/m, 'a QEMU VM');
    const shown = Number(/^qemuPid:\s+(\d+)$/m.exec(vm.stdout)?.[1]);
    t.equal(shown, qemu, 'the QEMU pid verbose status names');
    t.ok(readFileSync(`/proc/${shown}/cmdline`, 'utf8').split('\0')[0].includes('qemu-system'), 'and that process is QEMU, running');
    t.match(vm.stdout, /^accel:\s+tcg$/m, 'the accelerator');
    t.match(vm.stdout, /^agentTransport:\s+serial$/m, 'the agent transport');
    t.match(vm.stdout, new RegExp(`^memoryMib:\\s+${world.vmCfg.memory_mib}$`, 'm'), 'the guest memory');
    t.match(vm.stdout, /^vcpus:\s+\d+$/m, 'the vCPUs');
    t.match(vm.stdout, /^cid:\s+-$/m, 'no CID on the serial transport');
    t.match(vm.stdout, /^console tail:\n/m, 'and the console tail');

    const con = await cli(['console', id, ...listen]);
    t.equal(con.code, 0, `vmpod console exits 0 (${con.stderr})`);
    t.ok(con.stdout.includes(INIT_HANDOVER_MARKER), "the console shows the guest's boot up to the agent");

    const alog = await cli(['logs', '--agent', id, ...listen]);
    t.equal(alog.code, 0, `vmpod logs --agent exits 0 (${alog.stderr})`);
    const lines = alog.stdout.trim().split('\n');
    t.ok(lines.length > 0 && lines.every((l) => /^\d{4}-\d\d-\d\dT\S+ (info|warn|error)\s+\S/.test(l)), `agent log lines with time and level (${lines.length})`);

    // Network stats: the node fetches ~140 KB from httpd in the guest; the pod's eth0 (its view, in the pod netns) counts it.
    const podIp = st.status?.network?.ip ?? '';
    await world.run(id, pod, 'web', [
      '/bin/busybox',
      'sh',
      '-c',
      'busybox mkdir -p /www && i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789; i=$((i+1)); done > /www/big && exec busybox httpd -f -p 8080 -h /www',
    ]);
    const netStats = async () => (await client.runtime.PodSandboxStats({ pod_sandbox_id: id }, 60_000)).stats?.linux?.network;
    const before = await netStats();
    t.equal(before?.default_interface?.name, 'eth0', "the pod's CNI interface is the default");
    t.notOk(
      before?.interfaces.some((i) => i.name.startsWith('tap')),
      'the tap (a mirror of eth0) is not listed',
    );
    const get = `require('http').get('http://${podIp}:8080/big', (r) => { let n = 0; r.on('data', (b) => { n += b.length; }); r.on('end', () => { process.stdout.write(String(n)); }); }).on('error', () => process.exit(1)).setTimeout(5000, () => process.exit(1))`;
    let fetched = '';
    for (let i = 0; i < 60 && fetched === ''; i++) {
      const r = world.sb.tryExec([process.execPath, '-e', get], world.sb.netns, 15_000);
      if (r.status === 0) fetched = r.stdout;
      else await new Promise((res) => setTimeout(res, 1000));
    }
    t.equal(fetched, '142000', 'the node fetched the file from httpd in the guest');
    const after = await netStats();
    const txGrew = Number(after?.default_interface?.tx_bytes?.value) - Number(before?.default_interface?.tx_bytes?.value);
    const rxGrew = Number(after?.default_interface?.rx_bytes?.value) - Number(before?.default_interface?.rx_bytes?.value);
    t.ok(txGrew >= 142_000, `the guest sent the file: tx grew by ${txGrew} bytes`);
    t.ok(rxGrew > 0, `the guest received the request: rx grew by ${rxGrew} bytes`);

    // QEMU's own figures in ListPodSandboxMetrics.
    const { pod_metrics } = await client.runtime.ListPodSandboxMetrics({}, 60_000);
    const mine = pod_metrics.find((m) => m.pod_sandbox_id === id);
    const metric = (name: string) => Number(mine?.metrics.find((m) => m.name === name)?.value?.value ?? NaN);
    const rss = metric('vmpod_vmm_memory_rss_bytes');
    t.ok(rss > 0 && rss < totalmem(), `QEMU RSS ${rss} is above 0 and below the host's memory ${totalmem()}`);
    t.ok(metric('vmpod_vmm_threads') >= 2, `QEMU threads: ${metric('vmpod_vmm_threads')} (main loop and a vCPU at least)`);
    t.ok(metric('vmpod_vmm_cpu_seconds_total') >= 1, 'QEMU CPU time: a TCG boot takes more than a second');
    const overheadBytes = metric('vmpod_pod_overhead_memory_bytes');
    t.ok(overheadBytes > 0 && overheadBytes <= rss, `pod overhead ${overheadBytes} is within QEMU's RSS`);
    t.ok(
      mine?.metrics.some((m) => m.name === 'container_network_transmit_bytes_total' && m.label_values.includes('eth0')),
      'the network series, per interface',
    );

    const oh = await cli(['overhead', '--interval-ms', '1000', ...listen]);
    t.equal(oh.code, 0, `vmpod overhead exits 0 (${oh.stderr})`);
    t.match(oh.stdout, new RegExp(`^${id.slice(0, 13)}\\s+e2e-admin/dbg\\s+\\d`, 'm'), 'a row for the VM pod');
    t.match(oh.stdout, /^memory overhead: median [\d.]+Mi, max [\d.]+Mi \(1 VM pod\)$/m, 'memory median and max');
    t.match(oh.stdout, /^cpu overhead: +median [\d.]+m, max [\d.]+m \(over \d+ ms\)$/m, 'cpu median and max');
    t.match(oh.stdout, /podFixed:\n {4}memory: "\d+Mi"\n {4}cpu: "\d+m"/, 'the podFixed to put in a RuntimeClass');
    t.match(oh.stdout, /^How: /m, 'and how it was measured');
    t.comment(oh.stdout);

    await client.runtime.StopPodSandbox({ pod_sandbox_id: id }, 120_000);
    const stopped = await cli(['vm', id, ...listen]);
    t.match(stopped.stdout, /^qemuPid:\s+-$/m, 'once stopped, no QEMU pid is shown');
    const noLog = await cli(['logs', '--agent', id, ...listen]);
    t.equal(noLog.code, 1, 'and the agent log of a stopped VM is refused');
    t.match(noLog.stderr, /not running/, 'saying the VM is not running');
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: id }, 120_000);
    await admin.close();
    t.equal(admin.connections, 0, 'no admin connection left open');
  });
}
