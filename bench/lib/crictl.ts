// crictl (the shared v1.26.1 build, ../shared/critest/bin) as the one client
// both runtimes are measured with: an exec is the whole `crictl exec`
// process (Exec RPC, SPDY upgrade, streams, status), a port-forward is one
// long-running `crictl port-forward` whose local port each GET goes to.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CRICTL } from '../../test/helpers/critest';
import type { Cleanup } from './cleanup';

export { CRICTL };

/** The argv prefix of crictl bound to one CRI socket. */
export function crictlArgv(socket: string): string[] {
  if (!existsSync(CRICTL)) throw new Error(`${CRICTL} is missing (../shared/critest/bin)`);
  return [CRICTL, '--runtime-endpoint', `unix://${socket}`, '--image-endpoint', `unix://${socket}`, '--timeout', '120s'];
}

/** `crictl exec <ctr> <cmd...>` to its end; rejects unless it exits 0. */
export function crictlExec(base: readonly string[], ctr: string, cmd: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(base[0], [...base.slice(1), 'exec', ctr, ...cmd], { timeout: 180_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`crictl exec ${cmd.join(' ')}: ${err.message.split('\n')[0]} ${stderr.trim()}`));
      else resolve();
    });
  });
}

/**
 * Starts `crictl port-forward <pod> :<port>` (a local port of client-go's
 * choosing) and resolves with that port once crictl says it is forwarding;
 * the process is killed by its PID in `cleanup`.
 */
export function crictlPortForward(cleanup: Cleanup, base: readonly string[], pod: string, port: number): Promise<number> {
  const child = spawn(base[0], [...base.slice(1), 'port-forward', pod, `:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  cleanup.add(`stop crictl port-forward ${pod.slice(0, 12)}`, async () => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      await exited;
    }
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`crictl port-forward printed no local port in 60 s: ${out.trim()}`)), 60_000);
    const seen = (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`crictl port-forward exited (${code ?? sig}): ${out.trim()}`));
    });
  });
}
