// The guest's memory figures as the virtio balloon brings them: QEMU asks
// the guest's driver every guest-stats-polling-interval seconds and keeps
// the last answer, which `qom-get <balloon> guest-stats` returns as
//   { "stats": { "stat-total-memory": <bytes>, ... }, "last-update": <s> }
// with 2^64-1 for a figure the guest did not send and last-update 0 before
// its first answer. Every number in it came from the guest, so each is
// checked against the VM's own RAM before anything uses it.

import type { Logger } from '../../log';
import type { GuestMemoryStats } from '../hypervisor';
import { BALLOON_ID } from './devices/virtio-balloon';
import type { QmpClient } from './qmp';

/** The QOM property that holds the last figures. */
const GUEST_STATS_PROPERTY = 'guest-stats';
/** The answer comes from QEMU's memory; one that takes longer is not worth waiting for. */
const GUEST_STATS_TIMEOUT_MS = 2_000;

/** A report older than this many polling intervals is stale: the guest's driver stopped answering. */
const STALE_INTERVALS = 3;
/** …but never stale sooner than this, so that one slow answer under load does not drop the figures. */
const MIN_STALE_MS = 15_000;

/** A non-negative safe integer, else undefined (2^64-1, QEMU's "not sent", lands here as an unsafe float). */
function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** A byte figure within [0, limit], else undefined. */
function bytes(v: unknown, limit: number): number | undefined {
  const n = count(v);
  return n !== undefined && n <= limit ? n : undefined;
}

export interface BalloonStatsLimits {
  /** The VM's RAM in bytes (boot RAM plus any hot-plug headroom): no figure can exceed it. */
  ramBytes: number;
  /** The polling interval the VM was started with. */
  intervalS: number;
  /** Now, ms since the epoch. */
  nowMs: number;
}

/**
 * The figures of a `guest-stats` reply, or undefined when there are none
 * yet, they are stale, or total and free (the figures every balloon driver
 * sends) are missing or make no sense. An optional figure that makes no
 * sense is dropped on its own. Pure.
 */
export function parseBalloonStats(reply: unknown, l: BalloonStatsLimits): GuestMemoryStats | undefined {
  if (typeof reply !== 'object' || reply === null) return undefined;
  const r = reply as Record<string, unknown>;
  const updatedS = count(r['last-update']);
  if (!updatedS) return undefined;
  const at = updatedS * 1000;
  if (l.nowMs - at > Math.max(STALE_INTERVALS * l.intervalS * 1000, MIN_STALE_MS)) return undefined;
  if (typeof r.stats !== 'object' || r.stats === null) return undefined;
  const s = r.stats as Record<string, unknown>;
  const total = bytes(s['stat-total-memory'], l.ramBytes);
  if (!total) return undefined;
  const free = bytes(s['stat-free-memory'], total);
  if (free === undefined) return undefined;
  const out: GuestMemoryStats = { at, totalBytes: total, freeBytes: free };
  const available = bytes(s['stat-available-memory'], total);
  if (available !== undefined) out.availableBytes = available;
  const caches = bytes(s['stat-disk-caches'], total);
  if (caches !== undefined) out.diskCachesBytes = caches;
  const minor = count(s['stat-minor-faults']);
  if (minor !== undefined) out.minorFaults = minor;
  const major = count(s['stat-major-faults']);
  if (major !== undefined) out.majorFaults = major;
  return out;
}

/** The VM's latest checked figures over QMP; undefined on any failure (stats are best effort: the caller keeps the host's figures). */
export async function readBalloonStats(qmp: QmpClient, l: Omit<BalloonStatsLimits, 'nowMs'>, log: Logger): Promise<GuestMemoryStats | undefined> {
  try {
    const reply = await qmp.execute('qom-get', { path: `/machine/peripheral/${BALLOON_ID}`, property: GUEST_STATS_PROPERTY }, GUEST_STATS_TIMEOUT_MS);
    return parseBalloonStats(reply, { ...l, nowMs: Date.now() });
  } catch (err) {
    log.debug({ err }, 'reading the guest memory figures failed');
    return undefined;
  }
}
