import type { ListPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/ListPodSandboxRequest';
import type { ListPodSandboxResponse } from '../../generated/cri/runtime/v1/ListPodSandboxResponse';
import type { SandboxRecord } from '../../store/sandbox';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { matchesLabels } from './ids';
import { handleOf } from './sandbox-ref';
import { toCriPodSandbox } from './to-cri';

/** A READY pod whose infra process / VM died is NOTREADY from now on. */
export async function refreshPodState(deps: RuntimeDeps, sb: SandboxRecord): Promise<SandboxRecord> {
  if (sb.state !== 'SANDBOX_READY' || !sb.runtime) return sb;
  const ctl = deps.controllers.get(sb.handlerType);
  if (!ctl || (await ctl.sandboxReady(handleOf(sb)))) return sb;
  const now = deps.sandboxes.get(sb.id);
  // Stopped or removed by a concurrent call while we asked.
  if (!now || now.state !== 'SANDBOX_READY') return now ?? sb;
  deps.log.child({ podSandboxId: sb.id }).warn('pod infra is gone; pod sandbox is NOTREADY');
  return deps.sandboxes.update(sb.id, (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
}

export function listPodSandbox(deps: RuntimeDeps): Handler<ListPodSandboxRequest__Output, ListPodSandboxResponse> {
  return async (req) => {
    const f = req.filter;
    let items = deps.sandboxes.list().filter((s) => !s.creating);
    if (f?.id) items = items.filter((s) => s.id.startsWith(f.id));
    items = await Promise.all(items.map((s) => refreshPodState(deps, s)));
    if (f?.state) items = items.filter((s) => s.state === f.state!.state);
    if (f) items = items.filter((s) => matchesLabels(s.config.labels, f.label_selector));
    return { items: items.map(toCriPodSandbox) };
  };
}
