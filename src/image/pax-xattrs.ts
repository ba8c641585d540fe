// Raw xattr values from PAX headers (`SCHILY.xattr.<name>`). tar-stream
// decodes PAX records as UTF-8 text, which mangles binary values such as
// `security.capability` (file capabilities, e.g. cap_net_bind_service). This
// scanner reads the same byte stream tar-stream parses, keeps the raw bytes,
// and queues one map per real entry, in the order tar-stream emits them.

const BLOCK = 512;
const MAX_PAX = 1 << 20;

export type RawXattrs = Map<string, Buffer>;

export class PaxXattrScanner {
  /** One item per real (non-PAX, non-GNU-long-name) entry: its xattrs, or null. */
  readonly queue: (RawXattrs | null)[] = [];
  private header = Buffer.alloc(0);
  private skip = 0;
  private collecting: Buffer[] | null = null;
  private collectLeft = 0;
  private collectPad = 0;
  private pending: { xattrs: RawXattrs; size?: number } | null = null;

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.collecting) {
        const n = Math.min(this.collectLeft, chunk.length - off);
        this.collecting.push(chunk.subarray(off, off + n));
        this.collectLeft -= n;
        off += n;
        if (this.collectLeft === 0) {
          this.pending = parsePax(Buffer.concat(this.collecting));
          this.collecting = null;
          this.skip = this.collectPad;
        }
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const need = BLOCK - this.header.length;
      const take = chunk.subarray(off, off + need);
      this.header = this.header.length === 0 ? Buffer.from(take) : Buffer.concat([this.header, take]);
      off += take.length;
      if (this.header.length === BLOCK) {
        this.onHeader(this.header);
        this.header = Buffer.alloc(0);
      }
    }
  }

  private onHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const type = String.fromCharCode(h[156]);
    const size = headerSize(h);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      if (size > MAX_PAX) {
        this.skip = padded;
        this.pending = null;
        return;
      }
      this.collecting = [];
      this.collectLeft = size;
      this.collectPad = padded - size;
      if (size === 0) {
        this.collecting = null;
        this.pending = { xattrs: new Map() };
      }
      return;
    }
    if (type === 'g' || type === 'L' || type === 'K') {
      this.skip = padded;
      return;
    }
    const realSize = this.pending?.size ?? size;
    this.queue.push(this.pending && this.pending.xattrs.size > 0 ? this.pending.xattrs : null);
    this.pending = null;
    // As tar-stream does: every entry but a directory is followed by `size` bytes of data.
    this.skip = type === '5' ? 0 : Math.ceil(realSize / BLOCK) * BLOCK;
  }
}

function headerSize(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0] & 0x80) {
    // GNU base-256 for sizes over 8 GiB.
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const s = field.toString('ascii').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

/** PAX records: `<len> <key>=<value>\n`, value kept as raw bytes. */
function parsePax(buf: Buffer): { xattrs: RawXattrs; size?: number } {
  const xattrs: RawXattrs = new Map();
  let size: number | undefined;
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(buf.subarray(off, sp).toString('ascii'), 10);
    if (!len || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) {
      const key = rec.subarray(0, eq).toString('utf8');
      const value = rec.subarray(eq + 1);
      if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), Buffer.from(value));
      else if (key === 'size') size = parseInt(value.toString('ascii'), 10);
    }
    off += len;
  }
  return { xattrs, size };
}
