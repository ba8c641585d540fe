// Where an idle VM pod's QEMU memory goes, from /proc/<pid>/smaps: each
// mapping's PSS (proportional set size: a page mapped by n processes counts
// 1/n to each) is put in one bucket, so a regression shows which part grew.
// Pure: the caller reads the file.

/** One mapping of /proc/<pid>/smaps, with the fields this bench uses (KiB). */
export interface SmapsMapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** File path, `[heap]`-style pseudo name, or '' for an anonymous mapping. */
  path: string;
  sizeKiB: number;
  rssKiB: number;
  pssKiB: number;
  sharedKiB: number;
  privateKiB: number;
  anonKiB: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+\S+\s+\S+\s+\d+\s*(.*)$/;
const FIELD = /^(\w+):\s+(\d+) kB$/;

/** Parses the text of /proc/<pid>/smaps; fields it does not know are ignored. */
export function parseSmaps(text: string): SmapsMapping[] {
  const out: SmapsMapping[] = [];
  let cur: SmapsMapping | undefined;
  for (const line of text.split('\n')) {
    const h = HEADER.exec(line);
    if (h) {
      cur = { start: BigInt(`0x${h[1]}`), end: BigInt(`0x${h[2]}`), perms: h[3], path: h[4].trim(), sizeKiB: 0, rssKiB: 0, pssKiB: 0, sharedKiB: 0, privateKiB: 0, anonKiB: 0 };
      out.push(cur);
      continue;
    }
    const f = FIELD.exec(line);
    if (!f || !cur) continue;
    const v = Number(f[2]);
    switch (f[1]) {
      case 'Size':
        cur.sizeKiB = v;
        break;
      case 'Rss':
        cur.rssKiB = v;
        break;
      case 'Pss':
        cur.pssKiB = v;
        break;
      case 'Shared_Clean':
      case 'Shared_Dirty':
        cur.sharedKiB += v;
        break;
      case 'Private_Clean':
      case 'Private_Dirty':
        cur.privateKiB += v;
        break;
      case 'Anonymous':
        cur.anonKiB = v;
        break;
    }
  }
  return out;
}

export const BUCKETS = ['tcg', 'guestRam', 'template', 'kernel', 'initrd', 'rootfs', 'qemu'] as const;
export type Bucket = (typeof BUCKETS)[number];

export const BUCKET_LABELS: Record<Bucket, string> = {
  tcg: 'TCG translation buffer (anonymous rwx)',
  guestRam: 'guest RAM (boot RAM + virtio-mem region)',
  template: "guest RAM from a template's memfd (PSS)",
  kernel: 'guest kernel image mapping',
  initrd: 'initramfs mapping',
  rootfs: 'DAX rootfs (shared file)',
  qemu: 'QEMU binary, libraries, heap, stacks',
};

/** The files of the guest image QEMU maps, to tell their mappings apart. */
export interface GuestFiles {
  /** Every kernel file QEMU may have been given (vmlinux, bzImage). */
  kernels: string[];
  initrd?: string;
  rootfs: string;
}

/**
 * glibc's malloc arenas reserve at most 64 MiB each, so an anonymous
 * read-write mapping larger than that is one of QEMU's RAM blocks (boot
 * RAM, the virtio-mem region); vmpod's smallest guest has 128 MiB.
 */
export const GUEST_RAM_MIN_KIB = 64 * 1024 + 1;

/** Which bucket one mapping belongs in. Pure. */
export function bucketOf(m: SmapsMapping, files: GuestFiles): Bucket {
  if (files.kernels.includes(m.path)) return 'kernel';
  if (files.initrd !== undefined && m.path === files.initrd) return 'initrd';
  if (m.path === files.rootfs) return 'rootfs';
  // The guest RAM of a VM restored from a template (src/sandbox/microvm/template.ts): the memfd mapped privately.
  if (m.path.startsWith(TEMPLATE_MEMFD_PATH)) return 'template';
  const anonymous = m.path === '' || m.path.startsWith('[anon');
  // QEMU's TCG code buffer is the one anonymous mapping that is writable and executable.
  if (anonymous && m.perms.startsWith('rwx')) return 'tcg';
  if (anonymous && m.perms.startsWith('rw') && m.sizeKiB >= GUEST_RAM_MIN_KIB) return 'guestRam';
  return 'qemu';
}

export interface BucketFigures {
  pssKiB: number;
  rssKiB: number;
  /** Pages of this bucket mapped by this process only (Private_Clean + Private_Dirty). */
  privateKiB: number;
  /** Address space reserved (Size): for the TCG buffer, its configured bound. */
  sizeKiB: number;
  /** Anonymous pages: in a private file mapping, the process's own copies of pages it wrote. */
  anonKiB: number;
}

export type SmapsBreakdown = Record<Bucket, BucketFigures>;

/** Sums the mappings of one process by bucket. Pure. */
export function smapsBreakdown(maps: SmapsMapping[], files: GuestFiles): SmapsBreakdown {
  const out = Object.fromEntries(BUCKETS.map((b) => [b, { pssKiB: 0, rssKiB: 0, privateKiB: 0, sizeKiB: 0, anonKiB: 0 }])) as SmapsBreakdown;
  for (const m of maps) {
    const b = out[bucketOf(m, files)];
    b.pssKiB += m.pssKiB;
    b.rssKiB += m.rssKiB;
    b.privateKiB += m.privateKiB;
    b.sizeKiB += m.sizeKiB;
    b.anonKiB += m.anonKiB;
  }
  return out;
}

/** The total PSS of a breakdown, optionally without some buckets. Pure. */
export function totalPssKiB(b: SmapsBreakdown, without: Bucket[] = []): number {
  return BUCKETS.filter((k) => !without.includes(k)).reduce((a, k) => a + b[k].pssKiB, 0);
}

/** Averages several processes' breakdowns (one per pod), bucket by bucket. Pure. */
export function meanBreakdown(bs: SmapsBreakdown[]): SmapsBreakdown {
  const out = Object.fromEntries(BUCKETS.map((k) => [k, { pssKiB: 0, rssKiB: 0, privateKiB: 0, sizeKiB: 0, anonKiB: 0 }])) as SmapsBreakdown;
  if (bs.length === 0) return out;
  for (const k of BUCKETS) for (const f of ['pssKiB', 'rssKiB', 'privateKiB', 'sizeKiB', 'anonKiB'] as const) out[k][f] = Math.round(bs.reduce((a, b) => a + b[k][f], 0) / bs.length);
  return out;
}

/** How /proc/<pid>/smaps names a template's memfd (template.ts creates it as "vmpod-template"). */
export const TEMPLATE_MEMFD_PATH = '/memfd:vmpod-template';

/**
 * What one VM restored from a template costs of the template's RAM: its
 * own copies of the pages it wrote (anonymous pages of its private mapping)
 * plus an equal share of the whole memfd, including the pages no VM maps
 * (the daemon's fd keeps them). PSS alone would miss those and split the
 * mapped ones among the mappers only. Pure.
 */
export function templateRamShareKiB(i: { ownCopiesKiB: number; memfdKiB: number; vms: number }): number {
  return i.ownCopiesKiB + (i.vms > 0 ? i.memfdKiB / i.vms : 0);
}

/** MemTotal and MemAvailable of /proc/meminfo, in KiB. Pure. */
export function parseMeminfo(text: string): { totalKiB: number; availableKiB: number } {
  const get = (k: string): number => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${k}`);
    return Number(m[1]);
  };
  return { totalKiB: get('MemTotal'), availableKiB: get('MemAvailable') };
}

/**
 * How many more idle pods of `perPodKiB` each fit before `fraction` of RAM
 * is in use, counting what is used now (MemTotal − MemAvailable) as taken.
 * An extrapolation: it assumes each pod keeps costing what the measured ones
 * did. Pure.
 */
export function densityEstimate(i: { totalKiB: number; availableKiB: number; perPodKiB: number; fraction?: number }): number {
  const budget = i.totalKiB * (i.fraction ?? 0.9) - (i.totalKiB - i.availableKiB);
  if (i.perPodKiB <= 0 || budget <= 0) return 0;
  return Math.floor(budget / i.perPodKiB);
}
