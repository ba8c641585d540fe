// Starting and stopping the daemon: directories, locks, state, the gRPC
// socket. What the CRI methods do is composed in compose.ts.

import { chmodSync, chownSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VmpodConfig } from '../config/types';
import type { Logger } from '../log';
import type { HandlerTypes } from '../sandbox';
import { adminSocketPath } from '../admin/client';
import { listenAdmin } from '../admin/server';
import type { GrpcServer } from '../cri/grpc/server';
import { createCriServer, type CallGate } from '../cri/server';
import { listenCri, type CriListener } from '../cri/transport/listener';
import { compose } from './compose';
import { claimSocketPath, lockRoot } from './lock';
import { RuntimeState } from './runtime-state';

export interface RunningDaemon {
  socket: string;
  /** Stop accepting calls, let in-flight ones finish (bounded), close the socket. */
  stop(reason: string): Promise<void>;
}

async function drain(server: GrpcServer, listener: CriListener, gate: CallGate, timeoutMs: number, log: Logger): Promise<void> {
  const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
  const finished = gate.close().then(() => 'drained' as const);
  if ((await Promise.race([finished, timer])) === 'timeout') {
    log.warn({ inFlight: gate.active }, 'in-flight calls did not finish in time; closing anyway');
  }
  // Until here new connections are still accepted and their calls refused
  // with UNAVAILABLE by the gate. close() ends every HTTP/2 session; the
  // listener then closes the socket and any connection that never became a
  // session.
  server.close();
  await listener.close();
}

/**
 * Root and state hold every pod's files: container rootfs and upper dirs,
 * the bind mounts of their volumes (secrets, tokens) in VM pods' shares,
 * runc pods' world-writable /dev/shm tmpfs. Only root may reach them: 0700,
 * tightened on a host where an earlier version made them 0711. Everything
 * that uses them by path (runc, conmon, QEMU, CNI plugins, kubelet) runs as
 * root; QEMU keeps CAP_DAC_OVERRIDE for its 9p server (docs/security.md).
 */
export function makePrivateDir(dir: string, log?: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o7777;
  if (mode === 0o700) return;
  // Only a dir that is vmpod's own is tightened: one an earlier version made
  // (0711) or an empty one. root or state set to a shared dir (/run, /var/lib)
  // must not take the host's other users' access away: say so instead.
  if (mode === 0o711 || readdirSync(dir).length === 0) {
    chmodSync(dir, 0o700);
    return;
  }
  log?.warn(
    { dir, mode: mode.toString(8) },
    "this directory is not private (0700) and holds files vmpod did not make; pods' files under it may be reachable by other host users: give vmpod a directory of its own",
  );
}

export async function startDaemon(cfg: VmpodConfig, types: HandlerTypes, log: Logger, version: string): Promise<RunningDaemon> {
  const started = Date.now();
  for (const dir of [cfg.root, cfg.state]) makePrivateDir(dir, log);
  mkdirSync(dirname(cfg.listen), { recursive: true, mode: 0o755 });
  const unlock = lockRoot(join(cfg.root, 'vmpod.lock'));
  let parts: Awaited<ReturnType<typeof compose>> | undefined;
  try {
    await claimSocketPath(cfg.listen);
    const adminPath = adminSocketPath(cfg.listen);
    await claimSocketPath(adminPath);
    const state = new RuntimeState(join(cfg.root, 'runtime.json'));
    parts = await compose(cfg, types, log, version, state);
    const composed = parts;
    const { server, gate } = createCriServer(parts.implementation, log);
    // The daemon accepts connections itself and passes them through the
    // :authority rewriter, so that clients sending their socket path as :authority get answers
    // (src/cri/transport/listener.ts, docs/cri-transport.md).
    const listener = await listenCri(server, cfg.listen, log.child({ subsystem: 'cri' }));
    // kubelet runs as root; nobody else may drive the runtime.
    chmodSync(cfg.listen, 0o660);
    chownSync(cfg.listen, 0, 0);
    // The operator debug commands' socket: root only (0600); read-only answers, and the guest shell of `vmpod debug` when [debug] guest_shell allows it (src/admin).
    const admin = await listenAdmin(adminPath, composed.admin, log.child({ subsystem: 'admin' }));
    log.info({ socket: cfg.listen, root: cfg.root, state: cfg.state, startupMs: Date.now() - started, version }, 'vmpod serving');
    return {
      socket: cfg.listen,
      stop: async (reason: string) => {
        log.info({ reason }, 'vmpod stopping: refusing new calls, finishing in-flight ones');
        composed.endOpenStreams();
        await admin.close();
        await drain(server, listener, gate, cfg.shutdown_timeout_s * 1000, log);
        await composed.close();
        unlock();
        log.info('vmpod stopped; pods and containers keep running');
      },
    };
  } catch (err) {
    // What compose started (the streaming server's port, the network watcher) must not outlive a failed start.
    await parts?.close().catch((closeErr: unknown) => log.warn({ err: closeErr }, 'closing after a failed start'));
    unlock();
    throw err;
  }
}
