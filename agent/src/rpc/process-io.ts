import type { TtrpcServer } from '../../../common/ttrpc';
import { InvalidArgumentError } from '../../../common/errors';
import { MAX_STREAM_CHUNK } from '../../../common/agent-protocol/limits';
import type { AgentDeps } from '../deps';
import { handle } from './define';
import { processTable } from './process-table';

export function registerProcessIo(server: TtrpcServer, d: AgentDeps): void {
  const c = d.containers;
  handle(server, 'ExecProcess', async (req) => {
    const pid = await c.exec(req.container_id, req.exec_id, req.process_json, req.stdin);
    d.log.info({ containerId: req.container_id, execId: req.exec_id, pid }, 'exec started');
    return { pid };
  });
  handle(server, 'WriteStdin', async (req) => {
    if (req.data.length > MAX_STREAM_CHUNK) throw new InvalidArgumentError('data', `more than ${MAX_STREAM_CHUNK} bytes`);
    return { written: await processTable(d, req.container_id).writeStdin(req.container_id, req.exec_id, req.data) };
  });
  handle(server, 'CloseStdin', async (req) => {
    processTable(d, req.container_id).closeStdin(req.container_id, req.exec_id);
    return {};
  });
  for (const [method, stream] of [
    ['ReadStdout', 'stdout'],
    ['ReadStderr', 'stderr'],
  ] as const) {
    handle(server, method, async (req, ctx) => {
      const max = Math.min(req.max_bytes || MAX_STREAM_CHUNK, MAX_STREAM_CHUNK);
      const r = await processTable(d, req.container_id).read(req.container_id, req.exec_id, stream, max, req.wait_ms, ctx.signal);
      return { data: r.data, eof: r.eof, dropped_bytes: r.dropped };
    });
  }
  handle(server, 'ResizeTty', async (req) => {
    processTable(d, req.container_id).resizeTerminal(req.container_id, req.exec_id, { rows: req.rows, cols: req.cols });
    return {};
  });
}
