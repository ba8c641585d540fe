// What the admin socket reads of the pods: the pod records and, through the
// controller interface, what each pod's controller says of it (debugInfo,
// agentLog). Read only: no lock is taken and nothing of a pod changes. A
// controller without a method simply has nothing to show for it; nothing
// here asks which kind of controller a pod runs on.

import { FailedPreconditionError } from '../../common/errors';
import { sandboxHandle } from '../pods/domain';
import type { SandboxController, SandboxHandle } from '../sandbox/controller';
import type { SandboxRecord, SandboxStore } from '../store/sandbox';
import { VM_CONSOLE_BYTES, type AdminRequest, type AdminResult, type PodRow } from './protocol';

/** The narrow interface the admin server answers from. */
export interface AdminPods {
  answer(req: AdminRequest): Promise<AdminResult>;
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
  ) {}

  private pod(ref: string): { rec: SandboxRecord; ctl: SandboxController; h: SandboxHandle } {
    const rec = this.sandboxes.resolve(ref, 'pod');
    const h = sandboxHandle(rec);
    if (!h) throw new FailedPreconditionError(`pod sandbox ${rec.id} is still being created`);
    const ctl = this.controllers.get(rec.handler);
    if (!ctl) throw new FailedPreconditionError(`pod sandbox ${rec.id} runs on handler "${rec.handler}", which is no longer in [runtime.handlers]`);
    return { rec, ctl, h };
  }

  async answer(req: AdminRequest): Promise<AdminResult> {
    if (req.cmd === 'pods') {
      const rows = this.sandboxes.list().map(podRow);
      rows.sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : BigInt(a.createdAt) > BigInt(b.createdAt) ? 1 : 0));
      return { pods: rows };
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
