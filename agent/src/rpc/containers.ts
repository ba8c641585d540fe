import type { TtrpcServer } from '../../../common/ttrpc';
import type { AgentDeps } from '../deps';
import { handle } from './define';
import { processTable } from './process-table';
import { unixNanoNumber } from '../../../common/time';

export function registerContainers(server: TtrpcServer, d: AgentDeps): void {
  const c = d.containers;
  handle(server, 'CreateContainer', async (req) => {
    const start = performance.now();
    await c.create(req);
    d.log.info({ ms: Math.round(performance.now() - start), containerId: req.container_id }, 'container created');
    return {};
  });
  handle(server, 'StartContainer', async (req) => {
    const start = performance.now();
    const pid = await c.start(req.container_id);
    d.log.info({ ms: Math.round(performance.now() - start), containerId: req.container_id, pid }, 'container started');
    return { pid };
  });
  handle(server, 'SignalProcess', async (req) => {
    await processTable(d, req.container_id).signal(req.container_id, req.exec_id, req.signal);
    return {};
  });
  handle(server, 'WaitProcess', async (req, ctx) => {
    const { exit, started } = await processTable(d, req.container_id).wait(req.container_id, req.exec_id, req.wait_ms, ctx.signal);
    if (!exit) return { exited: false, not_started: !started };
    return { exited: true, exit_code: exit.code, finished_at_unix_nano: Number(exit.finishedAtNs), oom_killed: exit.oomKilled };
  });
  handle(server, 'RemoveContainer', async (req) => {
    await c.remove(req.container_id, req.force);
    d.log.info({ containerId: req.container_id }, 'container removed');
    return {};
  });
  handle(server, 'StatsContainer', async (req) => ({ timestamp_unix_nano: unixNanoNumber(), ...(await c.stats(req.container_id)) }));
  handle(server, 'UpdateContainerResources', async (req) => {
    await c.update(req.container_id, req.resources_json);
    return {};
  });
  handle(server, 'GetOOMEvent', async (req, ctx) => {
    const ev = await c.nextOomEvent(req.wait_ms, ctx.signal);
    return ev ? { container_id: ev.containerId, oom_kill_count: ev.count } : {};
  });
}
