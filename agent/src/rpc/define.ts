// Registers one AgentService method: decode the request (a malformed one is
// the caller's INVALID_ARGUMENT), run the handler, encode the answer.

import { InvalidArgumentError } from '../../../common/errors';
import type { CallContext, TtrpcServer } from '../../../common/ttrpc';
import { AGENT_SERVICE, AgentMethodName } from '../../../common/generated/agent/agent';
import { decodeRequest, DeepPartial, encodeResponse, MessageDecodeError, RequestOf, ResponseOf } from '../../../common/agent-protocol/codec';

export function handle<M extends AgentMethodName>(server: TtrpcServer, method: M, fn: (req: RequestOf<M>, ctx: CallContext) => Promise<DeepPartial<ResponseOf<M>>>): void {
  server.register(AGENT_SERVICE, method, async (payload, ctx) => {
    let req: RequestOf<M>;
    try {
      req = decodeRequest(method, payload);
    } catch (err) {
      if (err instanceof MessageDecodeError) throw new InvalidArgumentError('request', err.message);
      throw err;
    }
    return encodeResponse(method, await fn(req, ctx));
  });
}
