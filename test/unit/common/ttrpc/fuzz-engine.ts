// The ttRPC fuzzer shared by the unit test (a few thousand iterations) and
// bench/ttrpc-fuzz.ts (a long run). A hostile peer sends random, mutated,
// truncated, oversized and unknown frames mixed with valid ones to a real
// client or server; we check that nothing throws out of the stream handlers,
// the parser never holds more than header + cap, every pending call settles,
// and a separate healthy connection keeps answering.

import { Duplex } from 'node:stream';
import { duplexPair, prng, tick } from './pair';
import { TtrpcClient, TtrpcServer } from '../../../../common/ttrpc';
import { encodeFrame, encodeHeader, HEADER_LENGTH, MAX_FRAME_LENGTH } from '../../../../common/ttrpc/frame';
import { encodeRequest, encodeResponse } from '../../../../common/ttrpc/messages';

export interface FuzzReport {
  seed: number;
  iterations: number;
  uncaught: string[];
  maxBuffered: number;
  connectionsFailed: number;
  healthyChecks: number;
  unsettledCalls: number;
}

const SVC = 'fuzz.v1.Target';

function server(): TtrpcServer {
  return new TtrpcServer()
    .register(SVC, 'Echo', async (p) => p)
    .register(SVC, 'Stream', async (p, ctx) => {
      for (let i = 0; i < 3; i++) ctx.send(p);
      for await (const d of ctx.incoming) ctx.send(d);
      return p;
    });
}

export async function runFuzz(seed: number, iterations: number): Promise<FuzzReport> {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const report: FuzzReport = { seed, iterations, uncaught: [], maxBuffered: 0, connectionsFailed: 0, healthyChecks: 0, unsettledCalls: 0 };
  const onUncaught = (err: unknown): void => {
    report.uncaught.push(String((err as Error)?.stack ?? err));
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const [ha, hb] = duplexPair();
  const healthyConn = server().serve(hb);
  const healthy = new TtrpcClient(ha, { defaultTimeoutMs: 5000 });

  const validFrame = (): Buffer => {
    const id = 2 * int(8) + 1;
    switch (int(4)) {
      case 0:
        return encodeFrame(id, 2, int(8), encodeResponse({ status: rnd() < 0.5 ? { code: int(20), message: 'x'.repeat(int(50)) } : undefined, payload: bytes(int(32)) }));
      case 1:
        return encodeFrame(id, 3, int(8), bytes(int(32)));
      case 2:
        return encodeFrame(id, 1, int(8), encodeRequest({ service: SVC, method: rnd() < 0.5 ? 'Echo' : 'Stream', payload: bytes(int(16)), timeoutNano: int(3) * 1e6, metadata: [] }));
      default:
        return encodeFrame(id, (1 + int(3)) as 1 | 2 | 3, int(256), bytes(int(64)));
    }
  };
  const piece = (): Buffer => {
    switch (int(9)) {
      case 0:
        return bytes(int(64)); // random garbage
      case 1: {
        // mutated valid frame
        const f = Buffer.from(validFrame());
        for (let i = 0, n = 1 + int(4); i < n; i++) f[int(f.length)] = int(256);
        return f;
      }
      case 2:
        return validFrame().subarray(0, int(HEADER_LENGTH)); // truncated header
      case 3:
        return encodeHeader({ length: MAX_FRAME_LENGTH + 1 + int(0x7fffffff), streamId: 1, type: 1 + int(3), flags: 0 }); // huge length
      case 4:
        return Buffer.concat([encodeHeader({ length: 4, streamId: 1 + 2 * int(4), type: 4 + int(252), flags: int(256) }), bytes(4)]); // unknown type
      case 5:
        return encodeHeader({ length: MAX_FRAME_LENGTH - int(1000), streamId: 1, type: 3, flags: 0 }); // near-cap length, never completed
      case 6: // a big frame, sometimes cut short: exercises buffering near the cap
        return rnd() < 0.05 ? Buffer.concat([encodeHeader({ length: MAX_FRAME_LENGTH, streamId: 1 + 2 * int(4), type: 3, flags: 0 }), Buffer.alloc(int(MAX_FRAME_LENGTH + 64), 0x41)]) : validFrame();
      default:
        return validFrame();
    }
  };

  for (let it = 0; it < iterations; it++) {
    const [victimEnd, hostileEnd] = duplexPair();
    hostileEnd.resume(); // swallow whatever the victim answers
    hostileEnd.on('error', () => undefined);
    const asClient = rnd() < 0.5;
    let calls: Promise<unknown>[] = [];
    let bufferedOf: () => number;
    let closedOf: () => boolean;
    if (asClient) {
      const c = new TtrpcClient(victimEnd, { defaultTimeoutMs: 2000, maxStreamBufferBytes: 1 << 16 });
      calls = Array.from({ length: 1 + int(4) }, (_, i) =>
        // Failing is fine (handled here at once); hanging or throwing out of a handler is not.
        i % 2 ? c.call(SVC, 'Echo', bytes(4)).catch(() => undefined) : drain(c.openStream(SVC, 'Stream', bytes(4))),
      );
      bufferedOf = () => c.maxParserBuffered;
      closedOf = () => c.closed !== undefined;
    } else {
      const s = server().serve(victimEnd);
      bufferedOf = () => s.maxParserBuffered;
      closedOf = () => s.closed !== undefined;
    }
    const input = Buffer.concat(Array.from({ length: 1 + int(6) }, piece));
    try {
      for (let off = 0; off < input.length;) {
        const n = input.length > 1 << 16 && rnd() < 0.5 ? 1 + int(1 << 16) : 1 + int(64);
        write(hostileEnd, input.subarray(off, off + n));
        off += n;
        if (rnd() < 0.2) await tick();
      }
    } catch (err) {
      report.uncaught.push(`write threw: ${String(err)}`);
    }
    await tick();
    if (closedOf()) report.connectionsFailed++;
    report.maxBuffered = Math.max(report.maxBuffered, bufferedOf());
    // The hostile side leaves: every pending call must settle (none may hang).
    hostileEnd.destroy();
    const settled = await Promise.race([Promise.allSettled(calls).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    if (!settled) report.unsettledCalls++;
    if (it % 50 === 0) {
      const out = await healthy.call(SVC, 'Echo', Buffer.from(`alive-${it}`));
      if (out.toString() !== `alive-${it}`) report.uncaught.push(`healthy connection answered ${out.toString()}`);
      report.healthyChecks++;
    }
  }
  healthy.close();
  healthyConn.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  return report;
}

function write(d: Duplex, b: Buffer): void {
  if (!d.destroyed) d.write(b);
}

async function drain(s: AsyncIterable<Buffer> & { response: Promise<Buffer> }): Promise<void> {
  try {
    for await (const _ of s) void _;
    await s.response;
  } catch {
    // failing is fine; hanging or throwing out of a handler is not
  }
}

export const FUZZ_MEMORY_BOUND = HEADER_LENGTH + MAX_FRAME_LENGTH;
