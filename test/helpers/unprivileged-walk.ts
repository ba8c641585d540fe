// What an unprivileged host user can do with a daemon's files, knowing every
// path (from `ps`, from the state tree, from guessing ids): root lists every
// path under the given dirs (crossing mounts, never following symlinks), then
// a child process running as `nobody` tries each one: list a directory,
// create a file in it, open and read a regular file. Whatever succeeds is
// returned, so a test can assert that nothing does.

import { spawn } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const NOBODY = 65534;

export interface WalkFindings {
  /** Paths root saw (so a test can check the walk covered what it must). */
  seen: string[];
  listable: string[];
  writable: string[];
  readable: string[];
}

/** Every path under `dir`, `dir` included; symlinks listed, not followed. */
export function allPaths(dir: string): string[] {
  const out: string[] = [];
  const go = (p: string) => {
    out.push(p);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return; // vanished meanwhile
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) go(join(p, n));
  };
  go(dir);
  return out;
}

// Runs as nobody: reads the paths as JSON on stdin, prints findings as JSON.
const PROBE = `
const fs = require('node:fs');
const path = require('node:path');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const found = { listable: [], writable: [], readable: [] };
  for (const p of JSON.parse(input)) {
    let st;
    try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isDirectory()) {
      try { fs.readdirSync(p); found.listable.push(p); } catch {}
      const probe = path.join(p, '.vmpod-nobody-probe-' + process.pid);
      try { fs.closeSync(fs.openSync(probe, 'wx')); found.writable.push(p); fs.unlinkSync(probe); } catch {}
    } else if (st.isFile()) {
      try {
        const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
        try { fs.readSync(fd, Buffer.alloc(1), 0, 1, 0); found.readable.push(p); } finally { fs.closeSync(fd); }
      } catch {}
    }
  }
  process.stdout.write(JSON.stringify(found));
});
`;

/** Try every path under `dirs` as uid/gid nobody. */
export async function walkAsNobody(dirs: string[]): Promise<WalkFindings> {
  const seen = dirs.flatMap(allPaths);
  const child = spawn(process.execPath, ['-e', PROBE], { uid: NOBODY, gid: NOBODY, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(JSON.stringify(seen));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`the probe running as nobody failed (exit ${code}): ${err}`);
  const found = JSON.parse(out) as Omit<WalkFindings, 'seen'>;
  return { seen, ...found };
}
