// `vmpod debug` against a real VM pod (issue 21): one VM pod under TCG with
// the serial agent, started with `[debug] guest_shell = true` (so its guest
// accepts debug processes), the admin socket served over that daemon's
// records and controllers as the daemon serves it, and the real CLI
// (dist/src/main.js). A command runs in the guest itself (its kernel is
// not the host's) and the CLI exits with its code; with the setting off the
// daemon refuses, naming the key; a non-root user is refused by the socket's
// permissions; a client killed mid-session leaves no process in the guest
// and no admin connection.

import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_SOCKET_NAME } from '../../src/admin/client';
import { PodsView } from '../../src/admin/pods-view';
import { listenAdmin } from '../../src/admin/server';
import { MAIN } from '../helpers/daemon';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const SETPRIV = '/usr/bin/setpriv';
const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['setpriv', SETPRIV]]);

// One VM boot under TCG on a loaded machine.
t.setTimeout(8 * 60_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Asynchronous: the admin server answering it runs in this process. stdin is closed at once. */
function cli(args: string[], asNobody = false): Promise<Run> {
  const [cmd, argv] = asNobody ? [SETPRIV, ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, MAIN, ...args]] : [process.execPath, [MAIN, ...args]];
  return new Promise((resolve) => {
    const child = execFile(cmd, argv, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

if ('missing' in guest) {
  t.fail(`guest debug VM e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({ guest, tmpPrefix: 'vgd-', netnsPrefix: 'vmpod-gdbg-', cniName: 'vmgdb', subnet: '10.88.86.0/24', imageTag: 'gdbg', namespace: 'e2e-debug' });
  // Before the daemon starts: the pod's guest is told at its start.
  world.cfg.debug.guest_shell = true;
  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('vmpod debug runs in the guest itself, only as root, only when configured, and leaves nothing', async (t) => {
    const { cri, client } = world.daemon();
    // The admin socket in a directory anyone may enter: only the socket's own mode keeps non-root users out.
    const adminDir = mkdtempSync('/tmp/vgd-adm-');
    chmodSync(adminDir, 0o755);
    t.teardown(() => rmSync(adminDir, { recursive: true, force: true }));
    const admin = await listenAdmin(join(adminDir, ADMIN_SOCKET_NAME), new PodsView(cri.sandboxes, cri.controllers, { guestShell: true }), world.log);
    t.teardown(() => admin.close());
    const listen = ['--listen', join(adminDir, 'cri.sock')];
    // The same daemon's records under a config with the setting off.
    const offDir = join(world.dir, 'off');
    mkdirSync(offDir);
    const adminOff = await listenAdmin(join(offDir, ADMIN_SOCKET_NAME), new PodsView(cri.sandboxes, cri.controllers), world.log);
    t.teardown(() => adminOff.close());

    const { pod_sandbox_id: id } = await client.runtime.RunPodSandbox({ config: world.podConfig('dbg') }, 300_000);

    const version = await cli(['debug', id, ...listen, '--', 'cat', '/proc/version']);
    t.equal(version.code, 0, `vmpod debug -- cat /proc/version exits 0 (${version.stderr})`);
    t.match(version.stdout, /^Linux version \S+/, "it prints a kernel's version");
    t.not(version.stdout, readFileSync('/proc/version', 'utf8'), "the guest's kernel, not the host's");

    const exit3 = await cli(['debug', id.slice(0, 12), ...listen, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    t.equal(exit3.code, 3, "the CLI exits with the guest command's exit code");
    t.equal(exit3.stdout, 'out\n', 'its stdout');
    t.equal(exit3.stderr, 'err\n', 'and its stderr, apart');

    const off = await cli(['debug', id, '--listen', join(offDir, 'cri.sock'), '--', 'true']);
    t.equal(off.code, 1, 'with [debug] guest_shell off the command fails');
    t.match(off.stderr, /\[debug\] guest_shell = true/, 'and the refusal names the config key');

    const nobody = await cli(['debug', id, ...listen, '--', 'true'], true);
    t.equal(nobody.code, 1, 'a non-root user fails');
    t.match(nobody.stderr, /permission denied on the admin socket .*only root/, 'with permission denied on the admin socket');

    // A client killed mid-session: its guest process and what it started go.
    const marker = '4242';
    const child = spawn(process.execPath, [MAIN, 'debug', id, ...listen, '--', 'sh', '-c', `sleep ${marker} & echo ready; wait`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) resolve(true);
      });
      child.on('exit', () => resolve(false));
    });
    t.ok(ready, 'the long-running session started');
    const sleeping = await cli(['debug', id, ...listen, '--', 'ps', '-o', 'pid,args']);
    t.match(sleeping.stdout, new RegExp(`sleep ${marker}`), 'its child runs in the guest (seen with ps from another debug session)');
    child.kill('SIGKILL');
    let left = sleeping.stdout;
    // The daemon notices the closed connection, then the agent kills the session: ask until it is gone (bounded).
    for (let i = 0; i < 60 && new RegExp(`sleep ${marker}`).test(left); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      left = (await cli(['debug', id, ...listen, '--', 'ps', '-o', 'pid,args'])).stdout;
    }
    t.notMatch(left, new RegExp(`sleep ${marker}`), 'no process of the killed session is left in the guest');
    for (let i = 0; i < 100 && admin.connections > 0; i++) await new Promise((r) => setTimeout(r, 100));
    t.equal(admin.connections, 0, 'no admin connection is left open');

    const alog = await cli(['logs', '--agent', id, ...listen]);
    t.match(alog.stdout, /debug process started/, "the guest agent's log records each debug process");

    await client.runtime.StopPodSandbox({ pod_sandbox_id: id }, 120_000);
    const stopped = await cli(['debug', id, ...listen, '--', 'true']);
    t.equal(stopped.code, 1, 'a stopped pod is refused');
    t.match(stopped.stderr, /not running/, 'saying its VM is not running');
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: id }, 120_000);
    await admin.close();
    await adminOff.close();
    t.equal(admin.connections + adminOff.connections, 0, 'no admin connection left open');
  });
}
