import type { TtrpcServer } from '../../../common/ttrpc';
import { NotFoundError } from '../../../common/errors';
import type { AgentDeps } from '../deps';
import { interfaceByMac, interfaceCommands, ipScript, routeCommand } from '../network';
import { mustRun } from '../system';
import { handle } from './define';

export function registerNetwork(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'UpdateInterface', async (req) => {
    let current = req.name;
    if (req.mac) {
      const found = await interfaceByMac(d.paths.sysClassNet, req.mac);
      if (!found) throw new NotFoundError('network interface', req.mac, 'no guest NIC has this MAC');
      current = found;
    }
    await mustRun(d.sys, d.paths.busybox, ['sh', '-e', '-s'], { input: ipScript(d.paths.busybox, interfaceCommands(req, current)) });
    d.log.info({ name: req.name, addresses: req.addresses, mtu: req.mtu }, 'interface configured');
    return {};
  });
  handle(server, 'UpdateRoutes', async (req) => {
    const cmds = req.routes.map((r, i) => routeCommand(r, i));
    if (cmds.length > 0) await mustRun(d.sys, d.paths.busybox, ['sh', '-e', '-s'], { input: ipScript(d.paths.busybox, cmds) });
    return {};
  });
}
