// From a sandbox record to the controller that runs it and the handle it takes.

import { UnimplementedError } from '../../../common/errors';
import type { SandboxController, SandboxHandle } from '../../sandbox/controller';
import type { SandboxRecord } from '../../store/sandbox';
import type { RuntimeDeps } from './deps';

export function controllerFor(deps: RuntimeDeps, sb: SandboxRecord): SandboxController {
  const c = deps.controllers.get(sb.handlerType);
  if (!c) throw new UnimplementedError(`pod sandbox ${sb.id}: handler "${sb.handler}" (${sb.handlerType}) is not available in this build`);
  return c;
}

export function handleOf(sb: SandboxRecord): SandboxHandle {
  if (!sb.runtime) throw new UnimplementedError(`pod sandbox ${sb.id} is still being created`);
  return { id: sb.id, config: sb.config, namespaces: sb.namespaces, hostname: sb.hostname ?? sb.config.hostname, netnsPath: sb.netnsPath, runtime: sb.runtime };
}

