import type { TtrpcServer } from '../../../common/ttrpc';
import type { AgentDeps } from '../deps';
import { configureNetwork } from '../network';
import { handle } from './define';

export function registerNetwork(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'UpdateInterface', async (req) => {
    await configureNetwork(d, req, []);
    d.log.info({ name: req.name, addresses: req.addresses, mtu: req.mtu }, 'interface configured');
    return {};
  });
  handle(server, 'UpdateRoutes', async (req) => {
    await configureNetwork(d, undefined, req.routes);
    return {};
  });
}
