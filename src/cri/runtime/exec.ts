// ExecSync, and the three streaming calls. Each validates the whole request
// before anything is looked up (a bad one is INVALID_ARGUMENT whatever it
// names), then checks the object can take it (NOT_FOUND, FAILED_PRECONDITION),
// and only then runs it (ExecSync) or issues a streaming URL whose token
// carries the request (Exec, Attach, PortForward; src/streaming).

import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { AttachRequest__Output } from '../../generated/cri/runtime/v1/AttachRequest';
import type { ExecRequest__Output } from '../../generated/cri/runtime/v1/ExecRequest';
import type { ExecSyncRequest__Output } from '../../generated/cri/runtime/v1/ExecSyncRequest';
import type { PortForwardRequest__Output } from '../../generated/cri/runtime/v1/PortForwardRequest';
import type { PodService } from '../../pods/service';
import type { StreamOptions } from '../../sandbox/controller';
import type { StreamUrls } from '../../streaming/requests';
import type { HandlerTable } from '../handler';
import { argvStrings, int64, requireString } from '../validate';

export function execHandlers(pods: PodService): HandlerTable {
  return {
    ExecSync: async (req: ExecSyncRequest__Output) => {
      const id = requireString(req.container_id, 'container_id');
      if (req.cmd.length === 0) throw new InvalidArgumentError('cmd', 'is required');
      argvStrings(req.cmd, 'cmd');
      const timeoutS = Number(int64(req.timeout || '0', 'timeout'));
      const r = await pods.execSync(id, req.cmd, timeoutS);
      return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    },
  };
}

/** The domain calls the streaming handlers check with before a URL is issued. */
export type StreamingChecks = Pick<PodService, 'requireRunning' | 'podStatus'>;

export function streamingHandlers(pods: StreamingChecks, urls: StreamUrls): HandlerTable {
  return {
    Exec: async (req: ExecRequest__Output) => {
      const id = requireString(req.container_id, 'container_id');
      if (req.cmd.length === 0) throw new InvalidArgumentError('cmd', 'is required');
      argvStrings(req.cmd, 'cmd');
      const opts = streamOptions(req);
      const containerId = await pods.requireRunning(id, 'cannot exec in it');
      return { url: urls.issue({ kind: 'exec', containerId, cmd: req.cmd, opts }) };
    },
    Attach: async (req: AttachRequest__Output) => {
      const id = requireString(req.container_id, 'container_id');
      const opts = streamOptions(req);
      const containerId = await pods.requireRunning(id, 'cannot attach to it');
      return { url: urls.issue({ kind: 'attach', containerId, opts }) };
    },
    PortForward: async (req: PortForwardRequest__Output) => {
      const id = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
      for (const port of req.port) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('port', `${port} is not a port number (1..65535)`);
      }
      const { pod } = await pods.podStatus(id, false);
      if (pod.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${pod.id} is not ready (${pod.state}); port-forward needs a running pod`);
      return { url: urls.issue({ kind: 'portforward', podId: pod.id, ports: [...req.port] }) };
    },
  };
}

/** The streams asked for, checked as the CRI comments require. */
export function streamOptions(req: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): StreamOptions {
  if (!req.stdin && !req.stdout && !req.stderr) throw new InvalidArgumentError('stdin/stdout/stderr', 'at least one of them must be true');
  // api.proto: "If tty is true, stderr MUST be false. Multiplexing is not supported in this case."
  if (req.tty && req.stderr) throw new InvalidArgumentError('stderr', 'must be false when tty is true (a terminal carries stdout and stderr as one stream)');
  return { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
}
