// Exec, attach and port-forward through the streaming server, driven as an
// operator or kubelet drives them: the shared crictl v1.26.1 (SPDY) against
// the daemon started as users start it, and a WebSocket v5 client of our
// own (the protocol newer kubelets and kubectl speak). For a runc pod and a
// VM pod (one VM): exec -i with piped stdin, exec -it under a terminal
// with its size and a resize during the session, an exit code (crictl's
// message, and the v4 status with the code over WebSocket), attach to a
// container reading its stdin, port-forward to a server bound only to the
// pod's 127.0.0.1 (which Kata cannot reach), and a WebSocket client that
// disconnects mid-exec, after which the exec'd process is gone.

import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../helpers/daemon';
import { CRITEST_NETNS, critestDaemonConfig, sharedCritestMissing } from '../helpers/critest';
import { crictlFor, inCritestNetns as inNetns, runTool as run, useSharedCritestWorld, writeCrictlPod } from '../helpers/crictl';

const IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';

/** One argument for sh -c. */
function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Our WebSocket v5 client, run in the daemon's netns (the streaming server listens on its loopback). */
const WS_CLIENT = `
const WebSocket = require('ws');
const [url, mode, input] = process.argv.slice(1);
const ws = new WebSocket(url, ['v5.channel.k8s.io']);
let out = '', status = '';
ws.on('open', () => {
  if (input) { ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(input)])); ws.send(Buffer.from([255, 0])); }
});
ws.on('message', (d) => {
  if (d[0] === 1) out += d.subarray(1).toString();
  if (d[0] === 3) status += d.subarray(1).toString();
  if (mode === 'disconnect' && out.includes('started')) { ws.terminate(); }
});
ws.on('close', (code) => { console.log(JSON.stringify({ code, out, status })); process.exit(0); });
ws.on('error', (e) => { console.error(String(e)); process.exit(2); });
`;

const missing = sharedCritestMissing(['bin/crictl', 'setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
if (missing) {
  process.stderr.write(`streaming e2e stage SKIPPED: ${missing}\n`);
  t.test('streaming with crictl and a WebSocket client', { skip: `streaming e2e stage skipped: ${missing}` }, async () => undefined);
} else {
  t.setTimeout(15 * 60_000);
  useSharedCritestWorld(t);

  const kinds = (process.env.VMPOD_STREAMING_E2E_KINDS ?? 'runc,vm').split(',') as ('runc' | 'vm')[];
  t.test('exec, attach and port-forward through the streaming server', async (t) => {
    const d = await startDaemon(t, { netns: CRITEST_NETNS, config: critestDaemonConfig() });
    const { argv: crictlArgv, run: crictl } = crictlFor(d);
    await crictl('pull', IMAGE);

    for (const kind of kinds) {
      const podJson = writeCrictlPod(d.dir, 'stream', kind);
      const ctrJson = join(d.dir, `ctr-${kind}.json`);
      // httpd on the pod's loopback only; the container's own process echoes its stdin (attach).
      writeFileSync(
        ctrJson,
        JSON.stringify({
          metadata: { name: 'streamer' },
          image: { image: IMAGE },
          command: ['/bin/sh', '-c', 'mkdir -p /www && echo hello-loopback > /www/index.html && httpd -p 127.0.0.1:8080 -h /www; while read l; do echo got:$l; done'],
          stdin: true,
          log_path: 'streamer.log',
          linux: {},
        }),
      );
      const pod = (await crictl('runp', podJson)).trim();
      const ctr = (await crictl('create', pod, ctrJson, podJson)).trim();
      await crictl('start', ctr);

      const piped = await run(crictlArgv('exec', '-i', ctr, 'cat'), { input: 'piped through stdin\n', timeoutMs: 60_000 });
      t.equal(piped.code, 0, `${kind}: exec -i exits 0 (${piped.stderr.trim()})`);
      t.equal(piped.stdout, 'piped through stdin\n', `${kind}: exec -i: stdin reached cat and came back`);

      const exit3 = await run(crictlArgv('exec', ctr, 'sh', '-c', 'echo to-stderr >&2; exit 3'), { timeoutMs: 60_000 });
      // crictl 1.26 exits 1 on any exec error; client-go's message shows it read the code 3 from the v4 status (kubectl exits with it).
      t.not(exit3.code, 0, `${kind}: exec of a command exiting 3 fails`);
      t.match(exit3.stderr, /command terminated with exit code 3/, `${kind}: the client read exit code 3 from the status`);
      t.match(exit3.stderr, /to-stderr/, `${kind}: its stderr arrives`);

      // script gives crictl a terminal; stty sets that terminal's size, which crictl sends on the resize stream
      // when it starts. Then a resize while the session runs: a background stty changes the terminal's size
      // once we create the flag file (on /dev/tty: a background job's stdin is /dev/null), the kernel sends
      // crictl SIGWINCH, and crictl sends the new size.
      const flag = join(d.dir, `resize-${kind}`);
      // crictl sends its size on the resize stream once the exec has started (as kubectl does, and as
      // containerd applies it: after the process started), so the container's terminal may still be 0x0
      // when the shell starts: wait for a size. busybox 1.29's `stty size` prints an error but exits 0 on
      // a 0x0 terminal, so the wait looks at what it prints, not at its status.
      const inContainer = 'i=0; until stty size 2>/dev/null | grep -q "^[1-9]" || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.1; done; stty size; while read x; do [ "$x" = q ] && exit 0; stty size; done';
      const inner = `stty rows 33 cols 111; (until [ -e ${flag} ]; do sleep 0.1; done; stty rows 44 cols 122 < /dev/tty) & exec ${crictlArgv('exec', '-it', ctr, 'sh', '-c', inContainer).map(shellQuote).join(' ')}`;
      const term = spawn('script', ['-qec', inner, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let screen = '';
      term.stdout.on('data', (b: Buffer) => (screen += b.toString()));
      term.stderr.on('data', (b: Buffer) => (screen += b.toString()));
      term.stdin.on('error', () => undefined);
      const exited = new Promise<number | null>((resolve) => term.once('exit', (code) => resolve(code)));
      const sizeAfter = async (from: number): Promise<string> => {
        for (let i = 0; i < 600; i++) {
          const m = /^\D*(\d+ \d+)\r*$/m.exec(screen.slice(from));
          if (m) return m[1];
          await new Promise((r) => setTimeout(r, 100));
        }
        return `no size line (${screen.slice(-300)})`;
      };
      t.equal(await sizeAfter(0), '33 111', `${kind}: exec -it: the container's terminal has the client's size`);
      writeFileSync(flag, '');
      // The resize travels on its own stream, beside stdin: ask until the answer is the new size.
      let resized = '';
      for (let i = 0; i < 50 && resized !== '44 122'; i++) {
        const from = screen.length;
        term.stdin.write('x\n');
        resized = await sizeAfter(from);
        if (resized !== '44 122') await new Promise((r) => setTimeout(r, 200));
      }
      t.equal(resized, '44 122', `${kind}: exec -it: a resize during the session reaches the container's terminal`);
      term.stdin.write('q\n');
      t.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 60_000).unref())]), 0, `${kind}: exec -it exits 0 (${screen.trim().slice(-300)})`);
      term.stdin.end();

      // attach: what we type reaches the container's own stdin; we leave once we see the echo.
      const attach = spawn(crictlArgv('attach', '-i', ctr)[0], crictlArgv('attach', '-i', ctr).slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let attached = '';
      // crictl may be gone before our last line (it failed, or we stopped it).
      attach.stdin.on('error', () => undefined);
      attach.stderr.on('data', (b: Buffer) => (attached += b.toString()));
      attach.stdout.on('data', (b: Buffer) => (attached += b.toString()));
      const sawEcho = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 60_000);
        attach.stdout.on('data', () => {
          if (/got:attached-line/.test(attached)) {
            clearTimeout(timer);
            resolve(true);
          }
        });
      });
      // crictl needs a moment to open its streams; lines sent before are still delivered once attached.
      const typing = setInterval(() => attach.stdin.write('attached-line\n'), 1000);
      t.ok(await sawEcho, `${kind}: attach -i: the container read our line and answered (${attached.trim().slice(-300)})`);
      clearInterval(typing);
      attach.kill('SIGTERM');

      // port-forward to 127.0.0.1:8080 inside the pod.
      const localPort = kind === 'runc' ? 18080 : 18081;
      const pfArgv = crictlArgv('port-forward', pod, `${localPort}:8080`);
      const pf = spawn(pfArgv[0], pfArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let pfOut = '';
      pf.stdout.on('data', (b: Buffer) => (pfOut += b.toString()));
      pf.stderr.on('data', (b: Buffer) => (pfOut += b.toString()));
      let body = '';
      for (let i = 0; i < 60 && !body.includes('hello-loopback'); i++) {
        body = (await run(inNetns(['curl', '-s', `http://127.0.0.1:${localPort}/`]), { timeoutMs: 10_000 })).stdout;
        if (!body.includes('hello-loopback')) await new Promise((r) => setTimeout(r, 500));
      }
      t.match(body, /hello-loopback/, `${kind}: port-forward reaches a server bound only to the pod's 127.0.0.1 (${pfOut.trim().slice(0, 200)})`);
      pf.kill('SIGTERM');

      // WebSocket v5: exec with stdin and its close signal, then a client that disconnects mid-exec.
      const execUrl = async (cmd: string[], stdin: boolean) => (await d.client.runtime.Exec({ container_id: ctr, cmd, stdin, stdout: true, stderr: true, tty: false })).url;
      const wsRun = await run(inNetns(['node', '-e', WS_CLIENT, await execUrl(['cat'], true), 'run', 'over websocket\n']));
      t.equal(wsRun.code, 0, `${kind}: websocket client ran (${wsRun.stderr.trim()})`);
      const ws = JSON.parse(wsRun.stdout || '{}') as { code: number; out: string; status: string };
      t.equal(ws.out, 'over websocket\n', `${kind}: websocket v5: stdin, its close signal and stdout`);
      t.same(JSON.parse(ws.status || '{}'), { metadata: {}, status: 'Success' }, `${kind}: websocket v5: the Success status`);
      const wsExit = await run(inNetns(['node', '-e', WS_CLIENT, await execUrl(['sh', '-c', 'exit 3'], false), 'run', '']));
      const failure = JSON.parse((JSON.parse(wsExit.stdout || '{}') as { status?: string }).status || '{}') as {
        status?: string;
        reason?: string;
        details?: { causes?: { reason: string; message: string }[] };
      };
      // kubectl exec exits with this code (client-go's CodeExitError); crictl 1.26 only prints it.
      t.same(
        [failure.status, failure.reason, failure.details?.causes],
        ['Failure', 'NonZeroExitCode', [{ reason: 'ExitCode', message: '3' }]],
        `${kind}: websocket v5: a command exiting 3 ends with the NonZeroExitCode status carrying 3 (${wsExit.stdout.trim()})`,
      );
      const cut = await run(inNetns(['node', '-e', WS_CLIENT, await execUrl(['sh', '-c', 'echo started; exec sleep 4242'], false), 'disconnect', '']));
      t.equal(cut.code, 0, `${kind}: websocket client disconnected mid-exec`);
      let ps = '';
      for (let i = 0; i < 40; i++) {
        ps = await crictl('exec', '-s', ctr, 'ps');
        if (!ps.includes('sleep 4242')) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      t.notMatch(ps, /sleep 4242/, `${kind}: the exec'd process is gone after the client disconnected`);

      await crictl('stop', ctr);
      await crictl('rm', ctr);
      await crictl('stopp', pod);
      await crictl('rmp', pod);
    }
    t.equal(await d.stop(), 0, 'daemon exits 0 on SIGTERM');
  });
}
