// What the admin socket reads of the pods: the pod records and, through the
// controller interface, what each pod's controller says of it (debugInfo,
// agentLog). Read only: no lock is taken and nothing of a pod changes. A
// controller without a method simply has nothing to show for it; nothing
// here asks which kind of controller a pod runs on. The one thing that is
// not read only, `vmpod debug` (debugProcess), is off unless the config
// says `[debug] guest_shell = true`.

import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError } from '../../common/errors';
import { overheadReport, type OverheadSample } from '../pods/overhead';
import { sandboxHandle } from '../pods/domain';
import type { ProcessIO, SandboxController, SandboxHandle } from '../sandbox/controller';
import type { SandboxRecord, SandboxStore } from '../store/sandbox';
import { VM_CONSOLE_BYTES, type AdminQuery, type AdminResult, type DebugRequest, type PodRow } from './protocol';

/** The config key that turns `vmpod debug` on, named in its refusal. */
export const GUEST_SHELL_KEY = '[debug] guest_shell';

/** The narrow interface the admin server answers from. */
export interface AdminPods {
  answer(req: AdminQuery): Promise<AdminResult>;
  /** `vmpod debug`: the process's streams, and the pod's full id. */
  openDebug?(req: DebugRequest): Promise<{ pod: string; io: ProcessIO }>;
}

export interface PodsViewOptions {
  /** `[debug] guest_shell`: whether `vmpod debug` is offered at all (default off). */
  guestShell?: boolean;
  /** `vmpod overhead`: every ready pod's stats (PodService.podMetrics); without it the daemon has no overhead to show. */
  podMetrics?: () => Promise<OverheadSample[]>;
}

export function podRow(r: SandboxRecord): PodRow {
  return {
    id: r.id,
    name: r.config.metadata?.name ?? '',
    namespace: r.config.metadata?.namespace ?? '',
    handler: r.handler,
    state: r.creating ? 'CREATING' : r.state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY',
    createdAt: r.createdAt,
  };
}

export class PodsView implements AdminPods {
  constructor(
    private readonly sandboxes: Pick<SandboxStore, 'list' | 'resolve'>,
    private readonly controllers: ReadonlyMap<string, SandboxController>,
    private readonly opts: PodsViewOptions = {},
  ) {}

  /** Checked before anything of the pod is read: with the setting off, the daemon offers nothing. */
  async openDebug(req: DebugRequest): Promise<{ pod: string; io: ProcessIO }> {
    if (this.opts.guestShell !== true) {
      throw new FailedPreconditionError(
        `vmpod debug is off on this node: set ${GUEST_SHELL_KEY} = true in the vmpod config and restart vmpod (a VM pod's guest accepts it only if it was on when the pod started)`,
      );
    }
    const { rec, ctl, h } = this.pod(req.pod);
    if (!ctl.debugProcess)
      throw new FailedPreconditionError(`pod sandbox ${rec.id} (handler "${rec.handler}") has no guest of its own to debug: its containers run on this host's kernel (use crictl exec, or nsenter)`);
    const io = await ctl.debugProcess(h, req.argv, {
      tty: req.tty,
      size: req.tty && req.rows > 0 && req.cols > 0 ? { width: req.cols, height: req.rows } : undefined,
      env: req.term ? [`TERM=${req.term}`] : [],
    });
    return { pod: rec.id, io };
  }

  private pod(ref: string): { rec: SandboxRecord; ctl: SandboxController; h: SandboxHandle } {
    const rec = this.sandboxes.resolve(ref, 'pod');
    const h = sandboxHandle(rec);
    if (!h) throw new FailedPreconditionError(`pod sandbox ${rec.id} is still being created`);
    const ctl = this.controllers.get(rec.handler);
    if (!ctl) throw new FailedPreconditionError(`pod sandbox ${rec.id} runs on handler "${rec.handler}", which is no longer in [runtime.handlers]`);
    return { rec, ctl, h };
  }

  async answer(req: AdminQuery): Promise<AdminResult> {
    if (req.cmd === 'pods') {
      const rows = this.sandboxes.list().map(podRow);
      rows.sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : BigInt(a.createdAt) > BigInt(b.createdAt) ? 1 : 0));
      return { pods: rows };
    }
    if (req.cmd === 'overhead') {
      const read = this.opts.podMetrics;
      if (!read) throw new FailedPreconditionError('this daemon measures no pod overhead');
      // Two readings: memory is read at the second, CPU is a rate between them.
      const t0 = process.hrtime.bigint();
      const first = await read();
      await sleep(req.intervalMs);
      const second = await read();
      return { overhead: overheadReport(first, second, Number(process.hrtime.bigint() - t0)) };
    }
    const { rec, ctl, h } = this.pod(req.pod);
    switch (req.cmd) {
      case 'vm': {
        if (!ctl.debugInfo) throw new FailedPreconditionError(`handler "${rec.handler}" shows nothing of its pods' isolation`);
        const info = await ctl.debugInfo(h, VM_CONSOLE_BYTES);
        const row = podRow(rec);
        return { vm: { ...info, id: rec.id, name: row.name, namespace: row.namespace, handler: rec.handler, state: row.state } };
      }
      case 'console': {
        const info = ctl.debugInfo ? await ctl.debugInfo(h, req.bytes) : undefined;
        if (info?.consoleTail === undefined) throw new FailedPreconditionError(`pod sandbox ${rec.id} (handler "${rec.handler}") has no console: its isolation is ${info?.isolation ?? 'unknown'}`);
        return { console: info.consoleTail, pod: rec.id };
      }
      case 'agent-log': {
        if (!ctl.agentLog) throw new FailedPreconditionError(`pod sandbox ${rec.id} (handler "${rec.handler}") has no guest agent, so no agent log`);
        return { agentLog: await ctl.agentLog(h, req.sinceSeq), pod: rec.id };
      }
    }
  }
}
