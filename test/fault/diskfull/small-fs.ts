// Small filesystems whose free space a test sets to the byte: an ext4 on a
// loop device over a temp file (made with `mkfs.ext4 -m 0`, so root, which
// the daemon runs as, has no reserved blocks to fall back on), and a
// size-limited tmpfs. A filler file takes all but the free space asked for;
// deleting it gives the space back.
//
// Why statfs's f_bavail is the number to set: ext4 keeps a pool of clusters
// for its own metadata (s_resv_clusters) that no write(2) may use, not even
// root's, and f_bavail already leaves that pool out (f_bfree does not). With
// `-m 0` f_bavail is what root can write.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FILLER = '.disk-full-filler-';

function run(argv: string[]): string {
  return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export abstract class SmallFs {
  private fillers = 0;

  constructor(readonly mountpoint: string) {}

  /** The filesystem's block size. */
  get blockSize(): number {
    return statfsSync(this.mountpoint).bsize;
  }

  /** Bytes root may still write, after the dirty data is on disk (delayed allocation reserves blocks until then). */
  free(): number {
    spawnSync('sync', ['-f', this.mountpoint]);
    const s = statfsSync(this.mountpoint);
    return s.bavail * s.bsize;
  }

  /**
   * Leave exactly `bytes` free (a multiple of the block size), with filler
   * files. A large file may need extent blocks of its own beyond its size, so
   * this measures again after each file and adds or trims until it is exact.
   */
  leaveFree(bytes: number): void {
    if (bytes % this.blockSize !== 0) throw new Error(`leaveFree(${bytes}): not a multiple of the block size ${this.blockSize}`);
    for (let i = 0; i < 12; i++) {
      const now = this.free();
      if (now === bytes) return;
      if (now > bytes) {
        // A big file needs extent blocks beyond its size: the first one leaves a margin that small ones then take.
        const want = now - bytes;
        const margin = Math.max(64 * this.blockSize, Math.floor(want / 100 / this.blockSize) * this.blockSize);
        this.allocate(want > 4 * margin ? want - margin : want);
      } else {
        // Give back from the newest filler that is large enough.
        const f = this.fillerFiles()
          .map((p) => ({ p, size: statSync(p).size }))
          .filter((x) => x.size >= bytes - now)
          .pop();
        if (!f) throw new Error(`cannot leave ${bytes} bytes free on ${this.mountpoint}: ${now} are, and no filler holds the difference`);
        truncateSync(f.p, f.size - (bytes - now));
      }
    }
    throw new Error(`could not leave exactly ${bytes} bytes free on ${this.mountpoint} (${this.free()} are)`);
  }

  /** A new filler of `size` bytes, or of as many blocks less as the filesystem can still give (its own metadata takes some). */
  private allocate(size: number): void {
    for (let i = 0, n = size; i < 64 && n > 0; i++, n -= this.blockSize) {
      const path = join(this.mountpoint, `${FILLER}${this.fillers++}`);
      if (spawnSync('fallocate', ['-l', String(n), path]).status === 0) return;
      rmSync(path, { force: true });
    }
  }

  /** Delete the fillers: the space is back. */
  unfill(): void {
    for (const p of this.fillerFiles()) rmSync(p, { force: true });
  }

  private fillerFiles(): string[] {
    return readdirSync(this.mountpoint)
      .filter((n) => n.startsWith(FILLER))
      .sort((a, b) => Number(a.slice(FILLER.length)) - Number(b.slice(FILLER.length)))
      .map((n) => join(this.mountpoint, n));
  }

  /** Unmount (lazily if something still holds it) and release what backs it. Idempotent; never throws. */
  abstract dispose(): void;

  protected unmount(): void {
    if (!isMountpoint(this.mountpoint)) return;
    if (spawnSync('umount', [this.mountpoint]).status !== 0) spawnSync('umount', ['-l', this.mountpoint]);
  }
}

function isMountpoint(path: string): boolean {
  return spawnSync('mountpoint', ['-q', path]).status === 0;
}

/** ext4 on a loop device over `<image>`, mounted on `mountpoint`. */
export class LoopExt4 extends SmallFs {
  private constructor(
    mountpoint: string,
    readonly image: string,
    readonly device: string,
  ) {
    super(mountpoint);
  }

  static create(image: string, mountpoint: string, sizeMiB: number): LoopExt4 {
    run(['truncate', '-s', `${sizeMiB}M`, image]);
    // 1 KiB blocks: a record write is one block, so the sweep's steps are fine-grained.
    run(['mkfs.ext4', '-q', '-F', '-m', '0', '-b', '1024', image]);
    const device = run(['losetup', '--find', '--show', image]).trim();
    const fs = new LoopExt4(mountpoint, image, device);
    try {
      mkdirSync(mountpoint, { recursive: true });
      run(['mount', '-t', 'ext4', device, mountpoint]);
    } catch (err) {
      fs.dispose();
      throw err;
    }
    return fs;
  }

  dispose(): void {
    this.unmount();
    // A lazily unmounted fs keeps its device until the last user lets go; -d then detaches it as soon as it can (autoclear).
    spawnSync('losetup', ['-d', this.device]);
    rmSync(this.image, { force: true });
  }

  /** Whether the loop device still backs our image (for the test's own check of its cleanup). */
  attached(): boolean {
    return run(['losetup', '-a']).includes(this.image);
  }
}

/** A tmpfs limited to `sizeMiB`, mounted on `mountpoint`. */
export class SmallTmpfs extends SmallFs {
  static create(mountpoint: string, sizeMiB: number): SmallTmpfs {
    mkdirSync(mountpoint, { recursive: true });
    run(['mount', '-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'vmpod-diskfull', mountpoint]);
    return new SmallTmpfs(mountpoint);
  }

  dispose(): void {
    if (existsSync(this.mountpoint)) this.unmount();
  }
}
