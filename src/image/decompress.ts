// A layer blob as a stream of tar bytes, whatever its compression: gzip by
// Node's zlib, zstd by the Debian zstd CLI (Node 20 has no zstd), none as is.

import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compression } from './manifest';

/** Look at the first bytes: registries mislabel layers often enough that media types are only a hint. */
export async function sniffCompression(path: string, fallback: Compression): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    if (bytesRead === 0) return fallback;
    return 'none';
  } finally {
    await fh.close();
  }
}

/** `done` settles when the decompressor (if a child process) has exited; it rejects when it failed. */
export function decompressed(path: string, compression: Compression): { stream: Readable; done: Promise<void> } {
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    return { stream: createReadStream(path).pipe(gunzip), done: Promise.resolve() };
  }
  if (compression === 'zstd') {
    // Node 20 has no zstd; Debian's zstd CLI decodes at memory speed.
    const child = spawn('zstd', ['-d', '-c', '-q', '--no-progress', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', (err) => reject(new Error(`cannot run zstd (Debian package zstd) to decompress the layer: ${err.message}`)));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd failed to decompress the layer (exit ${code}): ${stderr.trim()}`))));
    });
    return { stream: child.stdout, done };
  }
  return { stream: createReadStream(path), done: Promise.resolve() };
}
