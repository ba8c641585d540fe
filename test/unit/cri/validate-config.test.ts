import t from 'tap';
import { absoluteDir, objectName, relativeLogPath, validateContainerConfig, validateDnsConfig, validatePodConfig } from '../../../src/cri/validate-config';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';

const bad = (field: string) => ({ code: 'INVALID_ARGUMENT', message: new RegExp(field.replace(/[[\].]/g, '\\$&')) });

t.test('names: what kubelet and critest send passes; path, control and shell characters do not', (t) => {
  for (const ok of ['web', 'create-PodSandbox-for-container-7c4f1b2e-0a7e-4c3b-9f7d-3c2b1a0e9f8d', 'kube-system', 'a.b_c-d', '0', 'f5d8b1b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b'])
    t.equal(objectName(ok, 'n'), ok, ok);
  for (const no of ['', '../etc', 'a/b', 'x\n', '-lead', 'trail-', 'sp ace', 'a'.repeat(254), 'Ünïcode', '$(id)'])
    t.throws(() => objectName(no, 'config.metadata.name'), bad('config.metadata.name'), JSON.stringify(no));
  t.end();
});

t.test('log_path stays inside log_directory; log_directory is absolute', (t) => {
  for (const ok of ['web.log', 'web/0.log', './web.log', 'a/../b.log']) t.equal(relativeLogPath(ok, 'config.log_path'), ok, ok);
  for (const no of ['/etc/passwd', '../x.log', 'a/../../x.log', '..', '.', 'dir/', 'a\0b']) t.throws(() => relativeLogPath(no, 'config.log_path'), bad('config.log_path'), JSON.stringify(no));
  t.equal(absoluteDir('/var/log/pods/ns_name_uid', 'd'), '/var/log/pods/ns_name_uid');
  for (const no of ['relative/logs', '/var/log/../../etc', '/a//b', '/a/./b', '/a\0']) t.throws(() => absoluteDir(no, 'config.log_directory'), bad('config.log_directory'), JSON.stringify(no));
  t.end();
});

t.test('paths past NAME_MAX or PATH_MAX are refused before a mkdir fails with ENAMETOOLONG', (t) => {
  t.throws(() => absoluteDir(`/tmp/${'d'.repeat(256)}`, 'config.log_directory'), bad('config.log_directory'));
  t.throws(() => absoluteDir(`/tmp/${'d/'.repeat(2100)}x`, 'config.log_directory'), bad('config.log_directory'));
  t.throws(() => relativeLogPath(`${'\u00e9'.repeat(128)}.log`, 'config.log_path'), bad('config.log_path'));
  t.equal(absoluteDir(`/tmp/${'d'.repeat(255)}`, 'f'), `/tmp/${'d'.repeat(255)}`, '255 bytes is fine');
  t.end();
});

t.test('DNS: servers are IPs, searches and options cannot add resolv.conf lines', (t) => {
  validateDnsConfig({ servers: ['10.96.0.10', 'fd00::a'], searches: ['default.svc.cluster.local', 'cluster.local'], options: ['ndots:5', 'edns0'] }, 'config.dns_config');
  t.throws(() => validateDnsConfig({ servers: ['dns.example'], searches: [], options: [] }, 'config.dns_config'), bad('config.dns_config.servers[0]'));
  t.throws(() => validateDnsConfig({ servers: [], searches: ['ok', 'evil\nnameserver 6.6.6.6'], options: [] }, 'config.dns_config'), bad('config.dns_config.searches[1]'));
  t.throws(() => validateDnsConfig({ servers: [], searches: [], options: ['ndots:5 rotate'] }, 'config.dns_config'), bad('config.dns_config.options[0]'));
  t.throws(() => validateDnsConfig({ servers: [], searches: Array<string>(33).fill('a'), options: [] }, 'config.dns_config'), bad('config.dns_config.searches'));
  t.end();
});

t.test('whole configs: each refusal names its field', (t) => {
  const pod = (o: Partial<PodSandboxConfig__Output>): PodSandboxConfig__Output =>
    ({ metadata: { name: 'p', namespace: 'ns', uid: 'u1', attempt: 0 }, log_directory: '/var/log/pods/x', ...o }) as PodSandboxConfig__Output;
  validatePodConfig(pod({}));
  t.throws(() => validatePodConfig(pod({ metadata: null })), bad('config.metadata'));
  t.throws(() => validatePodConfig(pod({ metadata: { name: 'p', namespace: 'a/b', uid: '', attempt: 0 } })), bad('config.metadata.namespace'));
  t.throws(() => validatePodConfig(pod({ metadata: { name: 'p', namespace: 'n', uid: '../u', attempt: 0 } })), bad('config.metadata.uid'));
  t.throws(() => validatePodConfig(pod({ log_directory: 'logs' })), bad('config.log_directory'));
  // Port mappings CNI's portmap refuses (found by the CRI fuzzer: container_port 0 failed ADD and then DEL, INTERNAL).
  const pm = (o: object) => pod({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '', ...o }] as PodSandboxConfig__Output['port_mappings'] });
  validatePodConfig(pm({}));
  validatePodConfig(pm({ host_port: 0, protocol: 'UDP', host_ip: '127.0.0.1' }));
  t.throws(() => validatePodConfig(pm({ container_port: 0 })), bad('config.port_mappings[0].container_port'));
  t.throws(() => validatePodConfig(pm({ container_port: -28 })), bad('config.port_mappings[0].container_port'));
  t.throws(() => validatePodConfig(pm({ container_port: 65536 })), bad('config.port_mappings[0].container_port'));
  t.throws(() => validatePodConfig(pm({ host_port: -1 })), bad('config.port_mappings[0].host_port'));
  t.throws(() => validatePodConfig(pm({ protocol: 99 })), bad('config.port_mappings[0].protocol'));
  t.throws(() => validatePodConfig(pm({ host_ip: 'localhost' })), bad('config.port_mappings[0].host_ip'));
  const ctr = (o: Partial<ContainerConfig__Output>): ContainerConfig__Output =>
    ({ metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, log_path: 'c.log', ...o }) as ContainerConfig__Output;
  validateContainerConfig(ctr({}));
  t.throws(() => validateContainerConfig(ctr({ log_path: '../../../etc/cron.d/x' })), bad('config.log_path'));
  t.throws(() => validateContainerConfig(ctr({ metadata: { name: 'c/d', attempt: 0 } })), bad('config.metadata.name'));
  t.throws(() => validateContainerConfig(ctr({ image: null })), bad('config.image'));
  // NUL bytes cannot reach execve (found by the CRI fuzzer: spawn threw and the call was INTERNAL).
  t.throws(() => validateContainerConfig(ctr({ command: ['/bin/sh', 'a\0b'] })), bad('config.command[1]'));
  t.throws(() => validateContainerConfig(ctr({ args: ['a\0'] })), bad('config.args[0]'));
  t.throws(
    () =>
      validateContainerConfig(
        ctr({
          envs: [
            { key: 'A', value: 'x' },
            { key: 'B', value: '\0' },
          ],
        }),
      ),
    bad('config.envs[1]'),
  );
  t.throws(() => validateContainerConfig(ctr({ working_dir: '/a\0b' })), bad('config.working_dir'));
  validateContainerConfig(ctr({ command: ['/bin/sh', '-c', 'echo "a b"'], args: [''], envs: [{ key: 'A', value: '' }], working_dir: '/w' }));
  t.end();
});
