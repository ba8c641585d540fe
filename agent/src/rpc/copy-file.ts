import { mkdir, open } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import type { TtrpcServer } from '../../../common/ttrpc';
import { InvalidArgumentError } from '../../../common/errors';
import { MAX_STREAM_CHUNK } from '../../../common/agent-protocol/limits';
import type { AgentDeps } from '../deps';
import { handle } from './define';

export function allowedCopyPath(path: string, roots: readonly string[]): boolean {
  if (!path.startsWith('/') || path.includes('\0')) return false;
  const norm = posix.normalize(path);
  return roots.some((r) => norm.startsWith(`${r}/`));
}

export function registerCopyFile(server: TtrpcServer, d: AgentDeps): void {
  handle(server, 'CopyFile', async (req) => {
    if (!allowedCopyPath(req.path, d.paths.copyFileRoots)) {
      throw new InvalidArgumentError('path', `"${req.path.slice(0, 200)}" is not under ${d.paths.copyFileRoots.join(' or ')}`);
    }
    if (req.data.length > MAX_STREAM_CHUNK) throw new InvalidArgumentError('data', `more than ${MAX_STREAM_CHUNK} bytes`);
    const path = posix.normalize(req.path);
    if (req.make_parents) await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, req.offset === 0 ? 'w' : 'r+', req.file_mode || 0o644);
    try {
      await fh.write(req.data, 0, req.data.length, req.offset);
      if (req.offset === 0) {
        await fh.chmod(req.file_mode || 0o644);
        if (req.uid || req.gid) await fh.chown(req.uid, req.gid);
      }
    } finally {
      await fh.close();
    }
    return {};
  });
}
