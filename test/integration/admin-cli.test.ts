// The operator debug CLI against the real daemon (dist/src/main.js serve):
// the admin socket next to the CRI socket is root's only (0600) and gone
// after SIGTERM; `vmpod pods` lists a runc pod, `vmpod vm` shows its runc
// facts (the infra process that really runs), `vmpod console` and `vmpod
// logs --agent` say a runc pod has neither; a bad request is refused with a
// clear error; `vmpod debug` is off unless configured and says which key
// turns it on; a non-root user gets "permission denied".

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { MAIN, startDaemon } from '../helpers/daemon';

t.setTimeout(3 * 60_000);

function cli(args: string[], asNobody = false): { code: number | null; stdout: string; stderr: string } {
  const argv = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN, ...args] : [process.execPath, MAIN, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One raw request line to the admin socket, the answer line parsed. */
function raw(path: string, line: string): Promise<{ ok: boolean; error?: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line));
    s.on('data', (d: string) => (buf += d));
    s.on('error', reject);
    s.on('end', () => {
      s.destroy();
      resolve(JSON.parse(buf) as { ok: boolean; error?: { code: string; message: string } });
    });
  });
}

t.test('debug CLI over the admin socket, with a runc pod', async (t) => {
  // A dir others may traverse (0711), so that a non-root user reaches the socket itself and its own mode is what refuses them.
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-admin-'));
  chmodSync(dir, 0o711);
  const d = await startDaemon(t, { dir });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const admin = join(dir, 'vmpod-admin.sock');
  const st = statSync(admin);
  t.ok(st.isSocket(), 'the admin socket is next to the CRI socket');
  t.equal((st.mode & 0o777).toString(8), '600', 'mode 0600');
  t.equal(st.uid, 0, 'owned by root');
  t.equal(st.gid, 0, 'group root');

  const pod: PodSandboxConfig = {
    metadata: { name: 'debug-me', uid: 'uid-debug-me', namespace: 'ops', attempt: 0 },
    hostname: 'debug-me',
    log_directory: `${d.dir}/pod-logs`,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: podId } = await d.client.runtime.RunPodSandbox({ config: pod, runtime_handler: 'runc' }, 60_000);
  const status = await d.client.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true });
  const infraPid = (JSON.parse(status.info.info ?? '{}') as { pid: number }).pid;
  t.ok(infraPid > 0, 'verbose status names the infra pid');

  const listen = ['--listen', d.socket];
  const pods = cli(['pods', ...listen]);
  t.equal(pods.code, 0, `vmpod pods exits 0 (${pods.stderr})`);
  const lines = pods.stdout.trim().split('\n');
  t.match(lines[0], /^POD ID\s+NAME\s+NAMESPACE\s+HANDLER\s+STATE\s+CREATED$/, 'a header');
  t.equal(lines.length, 2, 'one pod');
  t.match(lines[1], new RegExp(`^${podId.slice(0, 13)}\\s+debug-me\\s+ops\\s+runc\\s+READY\\s+\\d{4}-\\d\\d-\\d\\dT`), 'its short id, name, namespace, handler, state, created');

  const vm = cli(['vm', podId.slice(0, 8), ...listen]);
  t.equal(vm.code, 0, `vmpod vm <prefix> exits 0 (${vm.stderr})`);
  t.match(vm.stdout, new RegExp(`^pod:\\s+${podId}$`, 'm'), 'resolves the prefix to the full id');
  t.match(vm.stdout, /^isolation:\s+runc/m, 'says it is a runc pod');
  t.match(vm.stdout, new RegExp(`^infraPid:\\s+${infraPid}$`, 'm'), 'the infra pid verbose status names');
  t.match(vm.stdout, /^infraRunning:\s+true$/m, 'and that it runs');
  t.ok(existsSync(`/proc/${infraPid}`), 'that process really exists');
  t.notMatch(vm.stdout, /qemuPid|console tail/, 'no VM facts for a runc pod');

  const con = cli(['console', podId, ...listen]);
  t.equal(con.code, 1, 'vmpod console of a runc pod fails');
  t.match(con.stderr, /has no console.*FAILED_PRECONDITION/, 'saying a runc pod has no console');
  const alog = cli(['logs', '--agent', podId, ...listen]);
  t.equal(alog.code, 1, 'vmpod logs --agent of a runc pod fails');
  t.match(alog.stderr, /no guest agent/, 'saying it has no agent');
  const missing = cli(['vm', 'abcdef0123', ...listen]);
  t.equal(missing.code, 1, 'an unknown pod fails');
  t.match(missing.stderr, /not found.*NOT_FOUND/, 'as not found');

  const unknown = await raw(admin, '{"v":1,"cmd":"shell","pod":"ab"}\n');
  t.equal(unknown.ok, false, 'an unknown command is refused');
  t.match(unknown.error?.message, /unknown command "shell"/, 'by name');
  // vmpod debug: off by default ([debug] guest_shell), so refused before any pod is looked at.
  const off = await raw(admin, '{"v":1,"cmd":"debug","pod":"ab"}\n');
  t.equal(off.error?.code, 'FAILED_PRECONDITION', 'a debug request is refused while [debug] guest_shell is off (the default)');
  const shell = cli(['debug', podId, ...listen, '--', 'true']);
  t.equal(shell.code, 1, 'vmpod debug fails');
  t.match(shell.stderr, /vmpod debug is off on this node: set \[debug\] guest_shell = true.*FAILED_PRECONDITION/, 'naming the config key');
  const bad = await raw(admin, 'not json\n');
  t.equal(bad.error?.code, 'INVALID_ARGUMENT', 'a line that is not JSON is refused');

  const nobody = cli(['pods', ...listen], true);
  t.not(nobody.code, 0, 'a non-root user cannot list pods');
  t.match(nobody.stderr, /permission denied on the admin socket .*only root/, 'and is told why');
  const nobodyShell = cli(['debug', podId, ...listen, '--', 'true'], true);
  t.equal(nobodyShell.code, 1, 'nor open vmpod debug');
  t.match(nobodyShell.stderr, /permission denied on the admin socket .*only root/, 'with permission denied on the admin socket');
  const reach = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'stat', '-c', '%a', admin], { encoding: 'utf8' });
  t.equal(reach.stdout.trim(), '600', "that user reaches the socket's path: its own mode is what refuses them");

  await d.client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 60_000);
  await d.client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 60_000);
  t.equal(await d.stop(), 0, 'the daemon stops on SIGTERM');
  t.notOk(existsSync(admin), 'the admin socket is gone after SIGTERM');
  t.notOk(existsSync(d.socket), 'like the CRI socket');
});
