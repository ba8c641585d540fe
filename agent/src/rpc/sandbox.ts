import type { TtrpcServer } from '../../../common/ttrpc';
import type { AgentDeps } from '../deps';
import { createSandbox } from '../sandbox';
import { handle } from './define';

export function registerSandbox(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'CreateSandbox', async (req) => {
    await createSandbox(d, req);
    // The host's word at pod start decides, for the guest's life, whether it runs debug processes.
    d.debug?.enable(req.debug_processes);
    if (req.debug_processes) d.log.info('debug processes enabled by the host ([debug] guest_shell)');
    // Tells the host its network went with this call (an older agent's Empty reads false).
    return { network_configured: true };
  });
  handle(server, 'DestroySandbox', async () => {
    d.log.info('DestroySandbox: powering off');
    // Power off after the answer has had time to leave: the host waits for
    // the reply, then for QEMU to exit.
    setTimeout(() => d.powerOff(), 200);
    return {};
  });
}
