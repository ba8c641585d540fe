// Pod networking over CRI for trusted pods: the real CNI plugins (bridge,
// host-local, portmap) run inside a throw-away "node" netns, runc pods get
// IPs from it, a server in one pod answers another pod and the node, a host
// port works, a "restarted daemon" (a new server on the same root) still runs
// CNI DEL, and nothing of a removed pod remains in the node netns. A pod's
// network stats (PodSandboxStats, ListPodSandboxMetrics) move with its traffic.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultConfig } from '../../src/config/defaults';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { PodNetwork } from '../../src/network';
import { serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { createNetnsSandbox } from '../helpers/netns-sandbox';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { baseline, mountsUnder, processesNaming, runcContainers } from '../fault/leaks';

const SUBNET = '10.88.93.0/24';
const GATEWAY = '10.88.93.1';
const BRIDGE = 'vmpodt93';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-runc-net-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
cfg.network.cni_conf_dir = join(dir, 'cni');
const logDir = join(dir, 'logs');
const sb = createNetnsSandbox('vmpod-runc-net-ns-');

interface Daemon extends InProcessCri {
  network: PodNetwork;
}

let reg: RunningRegistry | undefined;
let images: ImageService;
let imageRef = '';
let daemon: Daemon | undefined;
let n = 0;

/** A CRI server over the real stores, images, CNI and runc: what the daemon composes, with CNI plugins run in the node netns. */
async function startServer(): Promise<Daemon> {
  const socket = join(dir, `vmpod-${n++}.sock`);
  const network = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: silentLogger, hostNetns: sb.netns });
  return { ...(await serveCri(socket, { config: cfg, log: silentLogger, images, network })), network };
}

t.before(async () => {
  mkdirSync(cfg.network.cni_conf_dir, { recursive: true });
  writeFileSync(
    join(cfg.network.cni_conf_dir, '10-test.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'vmpod-test',
      plugins: [
        { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET, gateway: GATEWAY }]], dataDir: join(dir, 'ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  reg = await startRegistry();
  const links: TarEntry[] = ['sleep', 'httpd', 'wget', 'sh', 'echo', 'mkdir', 'ip'].map((name) => ({ name: `bin/${name}`, type: 'symlink', linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/net', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...links]), compression: 'gzip' }], { config: { Cmd: ['/bin/sh'] } });
  imageRef = `${reg.host}/test/net:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  daemon = await startServer();
  await daemon.client.image.PullImage({ image: { image: imageRef } }, 120_000);
});

t.teardown(async () => {
  try {
    const { items } = await daemon!.client.runtime.ListPodSandbox({});
    for (const p of items) await daemon!.client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
  } catch {
    // the server may not have started
  }
  await daemon?.close();
  await reg?.stop();
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  sb.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function podConfig(name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'net-test', attempt: 0 },
    hostname: name,
    log_directory: join(logDir, name),
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  };
}

function containerConfig(name: string, command: string[]): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: { image: imageRef }, command, log_path: `${name}.log` };
}

async function runPod(name: string, command: string[], extra: Partial<PodSandboxConfig> = {}) {
  const c = daemon!.client;
  const pod = podConfig(name, extra);
  const { pod_sandbox_id: podId } = await c.runtime.RunPodSandbox({ config: pod }, 60_000);
  const { container_id: ctr } = await c.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(name, command), sandbox_config: pod });
  await c.runtime.StartContainer({ container_id: ctr });
  const st = await c.runtime.PodSandboxStatus({ pod_sandbox_id: podId });
  return { podId, ctr, ip: st.status?.network?.ip ?? '' };
}

/** Fetch a URL from the node netns with busybox wget, bounded by a spawn timeout (busybox-static's wget -T crashes). */
function wgetFromNode(url: string): { status: number; stdout: string } {
  return sb.tryExec(['/bin/busybox', 'wget', '-q', '-O', '-', url], sb.netns, 10_000);
}

async function retry<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, tries = 50): Promise<T> {
  let v = await fn();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 200));
    v = await fn();
  }
  return v;
}

t.test('runc pods get IPs from CNI, reach each other and the node; a host port works; removal leaves nothing', async (t) => {
  const c = daemon!.client;
  const web = await runPod('web', ['/bin/sh', '-c', 'mkdir -p /www && echo hello-from-web > /www/index.html && exec /bin/httpd -f -p 8080 -h /www'], {
    port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: 18093, host_ip: '' }],
  });
  t.match(web.ip, /^10\.88\.93\.\d+$/, 'PodSandboxStatus network.ip from the CNI result');
  const client = await runPod('client', ['/bin/sleep', '3600']);
  t.match(client.ip, /^10\.88\.93\.\d+$/);
  t.not(client.ip, web.ip, 'distinct pod IPs');

  const fromPod = await retry(
    () => c.runtime.ExecSync({ container_id: client.ctr, cmd: ['/bin/wget', '-q', '-O', '-', `http://${web.ip}:8080/`], timeout: '10' }),
    (r) => r.exit_code === 0,
  );
  t.equal(fromPod.stdout.toString(), 'hello-from-web\n', 'server in one pod answers another pod');
  const fromNode = await retry(
    () => wgetFromNode(`http://${web.ip}:8080/`),
    (r) => r.status === 0,
  );
  t.equal(fromNode.stdout, 'hello-from-web\n', 'and the node');
  const viaHostPort = await retry(
    () => wgetFromNode(`http://${GATEWAY}:18093/`),
    (r) => r.status === 0,
  );
  t.equal(viaHostPort.stdout, 'hello-from-web\n', 'host port 18093 → container port 8080 through portmap');

  const netnsOf = (id: string) => daemon!.network.netnsPathFor(id);
  const webNetns = netnsOf(web.podId);
  for (const p of [web, client]) {
    await c.runtime.StopPodSandbox({ pod_sandbox_id: p.podId });
    await c.runtime.RemovePodSandbox({ pod_sandbox_id: p.podId });
  }
  t.notOk(readMounts().includes(webNetns), 'pod netns unpinned');
  const links = sb.exec(['ip', '-o', 'link', 'show']);
  t.notMatch(links, /veth[^:]*@.*master vmpodt93/, 'no veth left on the bridge');
  t.notMatch(sb.exec(['iptables-save']), /18093|uid-web|CNI-DN-[0-9a-f]+ .*web/, 'no portmap rule for the pod left');
});

t.test('a restarted daemon still runs CNI DEL for a pod it did not set up', async (t) => {
  const pod = await runPod('survivor', ['/bin/sleep', '3600']);
  t.match(pod.ip, /^10\.88\.93\.\d+$/);
  await daemon!.close();
  daemon = await startServer(); // a new process would read the same root: stores and the CNI cache
  const st = await daemon.client.runtime.PodSandboxStatus({ pod_sandbox_id: pod.podId });
  t.equal(st.status?.network?.ip, pod.ip, 'pod IP known after the restart');
  const ctr = await daemon.client.runtime.ContainerStatus({ container_id: pod.ctr });
  t.equal(ctr.status?.state, 'CONTAINER_RUNNING', 'the container kept running across the restart (conmon)');
  const leaseFile = join(dir, 'ipam', 'vmpod-test', pod.ip);
  t.ok(sb.tryExec(['test', '-e', leaseFile]).status === 0, 'IP lease held before removal');
  await daemon.client.runtime.RemovePodSandbox({ pod_sandbox_id: pod.podId });
  t.ok(sb.tryExec(['test', '-e', leaseFile]).status !== 0, 'CNI DEL released the lease');
  t.notMatch(sb.exec(['ip', '-o', 'link', 'show']), /veth[^:]*@.*master vmpodt93/, 'veth gone');
});

t.test('network stats of a runc pod move when traffic flows: PodSandboxStats and ListPodSandboxMetrics', async (t) => {
  const c = daemon!.client;
  // ~140 KB to fetch, so that the counters move by far more than any background chatter.
  const web = await runPod('stats', [
    '/bin/sh',
    '-c',
    'mkdir -p /www && i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789; i=$((i+1)); done > /www/big && exec /bin/httpd -f -p 8080 -h /www',
  ]);
  const eth0 = async () => {
    const s = await c.runtime.PodSandboxStats({ pod_sandbox_id: web.podId });
    return s.stats?.linux?.network;
  };
  const before = await eth0();
  t.equal(before?.default_interface?.name, 'eth0', 'the CNI interface is the default');
  t.same(
    before?.interfaces.map((i) => i.name),
    ['eth0'],
    'loopback is not listed',
  );
  const rx0 = Number(before?.default_interface?.rx_bytes?.value);
  const tx0 = Number(before?.default_interface?.tx_bytes?.value);
  const got = await retry(
    () => wgetFromNode(`http://${web.ip}:8080/big`),
    (r) => r.status === 0,
  );
  t.equal(got.stdout.length, 142_000, 'the node fetched the file from the pod');
  const after = await eth0();
  const rx1 = Number(after?.default_interface?.rx_bytes?.value);
  const tx1 = Number(after?.default_interface?.tx_bytes?.value);
  t.ok(tx1 - tx0 >= 142_000, `the pod sent the file: tx grew by ${tx1 - tx0} bytes`);
  t.ok(rx1 > rx0, `the pod received the request and ACKs: rx grew by ${rx1 - rx0} bytes`);
  t.equal(Number(after?.default_interface?.rx_errors?.value), 0, 'no receive errors');

  const { pod_metrics } = await c.runtime.ListPodSandboxMetrics({});
  const mine = pod_metrics.find((m) => m.pod_sandbox_id === web.podId);
  const txMetric = mine?.metrics.find((m) => m.name === 'container_network_transmit_bytes_total' && m.label_values.includes('eth0'));
  t.ok(Number(txMetric?.value?.value) >= tx1, 'container_network_transmit_bytes_total{interface="eth0"} is at least what the stats said');
  const { descriptors } = await c.runtime.ListMetricDescriptors({});
  t.same(descriptors.find((d) => d.name === 'container_network_transmit_bytes_total')?.label_keys, ['container', 'id', 'image', 'interface', 'name', 'namespace', 'pod']);
  t.notOk(
    mine?.metrics.some((m) => m.name.startsWith('vmpod_vmm_')),
    'a runc pod has no hypervisor overhead metrics',
  );

  // Pressure: the kernel keeps it per cgroup of the v2 tree only (on a hybrid host, /sys/fs/cgroup/unified).
  const psiHere = existsSync('/sys/fs/cgroup/unified/cpu.pressure') || existsSync('/sys/fs/cgroup/cgroup.controllers');
  const st = await c.runtime.PodSandboxStats({ pod_sandbox_id: web.podId });
  t.equal(st.stats?.linux?.cpu?.psi !== null && st.stats?.linux?.cpu?.psi !== undefined, psiHere, `cpu PSI present exactly when the host has per-cgroup pressure (${psiHere})`);
  t.ok(
    mine?.metrics.some((m) => m.name === 'container_fs_reads_bytes_total'),
    'block IO counted for the pod cgroup',
  );
  await c.runtime.StopPodSandbox({ pod_sandbox_id: web.podId });
  await c.runtime.RemovePodSandbox({ pod_sandbox_id: web.podId });
});

/** Cgroup dirs under vmpod's default parent, on every hierarchy (v1 or v2): a pod's are named by its id. */
function podCgroups(): string[] {
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup'] : readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  return roots.flatMap((r) => (existsSync(join(r, 'vmpod')) ? readdirSync(join(r, 'vmpod')).map((n) => join(r, 'vmpod', n)) : []));
}

// CNI ADD runs beside the infra's conmon + runc create: when ADD fails, the
// infra made meanwhile must go with everything else, including the exit file
// its conmon writes once runc delete killed it.
t.test('a pod whose CNI ADD fails while its infra is created leaves nothing behind', async (t) => {
  const c = daemon!.client;
  // Sorted first, so the next pod's network is this one: a plugin that does not exist fails ADD at once.
  const conf = join(cfg.network.cni_conf_dir, '00-fail.conflist');
  writeFileSync(conf, JSON.stringify({ cniVersion: '1.0.0', name: 'vmpod-fail', plugins: [{ type: 'vmpod-no-such-plugin' }] }));
  t.teardown(() => rmSync(conf, { force: true }));
  const before = { files: baseline(cfg.root, cfg.state), procs: processesNaming(dir), runc: runcContainers(join(cfg.state, 'runc')), mounts: mountsUnder(dir, []), cgroups: podCgroups() };
  await t.rejects(c.runtime.RunPodSandbox({ config: podConfig('doomed') }, 60_000), { message: /step "network-setup" failed: CNI plugin "vmpod-no-such-plugin" not found/ });
  // conmon writes an exit file (if at all) before it exits: look once nothing of the pod runs any more.
  for (let i = 0; i < 500 && processesNaming(dir).length > before.procs.length; i++) await new Promise((r) => setTimeout(r, 20));
  const { items } = await c.runtime.ListPodSandbox({});
  t.notOk(
    items.some((p) => p.metadata?.name === 'doomed'),
    'no pod record',
  );
  const newFiles = [...baseline(cfg.root, cfg.state)].filter((p) => !before.files.has(p) && /[0-9a-f]{64}/.test(p));
  t.same(newFiles, [], 'no file named by the pod: pod dir, infra bundle, exit file, CNI cache, netns pin');
  t.same(processesNaming(dir), before.procs, 'no conmon or infra process');
  t.same(runcContainers(join(cfg.state, 'runc')), before.runc, 'no runc container');
  t.same(mountsUnder(dir, []), before.mounts, 'no /dev/shm or netns mount');
  t.same(podCgroups(), before.cgroups, 'no cgroup');
});

function readMounts(): string {
  return execFileSync('cat', ['/proc/self/mountinfo']).toString();
}
