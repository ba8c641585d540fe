#!/usr/bin/env node
// scripts/build-installer-image: build the installer image from this built
// checkout into an OCI layout, and push it when asked. No Docker, no daemon:
// the layers are written here (oci.ts) and pushed with plain HTTP (push.ts).
//
//   build-installer-image --out DIR [--tag TAG] [--guest-dir DIR] [--node PATH]
//                         [--push http(s)://HOST:PORT/REPO]
//
// Prints the manifest digest, which is the same for the same inputs. A
// registry that wants basic auth gets REGISTRY_USERNAME and REGISTRY_PASSWORD
// from the environment; an https one is trusted as Node.js trusts
// (NODE_EXTRA_CA_CERTS adds a CA).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseGuestDir } from '../host/guest-record';
import { projectRoot } from '../paths';
import { buildInstallerImage } from './build';
import { hostInputs } from './payload';
import { pushImage } from './push';

const USAGE = 'usage: build-installer-image --out DIR [--tag TAG] [--guest-dir DIR] [--node PATH] [--push http(s)://HOST:PORT/REPO]\n';

export interface BuildArgs {
  out: string;
  tag: string;
  guestDir?: string;
  node: string;
  push?: { registry: URL; repo: string };
}

/** The command line, or why it is wrong. */
export function parseArgs(argv: readonly string[], version: string): BuildArgs | { error: string } {
  const a: Partial<BuildArgs> = { tag: version, node: process.execPath };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!['--out', '--tag', '--guest-dir', '--node', '--push'].includes(flag)) return { error: `unknown argument ${flag}` };
    if (value === undefined) return { error: `${flag} needs a value` };
    i++;
    if (flag === '--out') a.out = value;
    else if (flag === '--tag') a.tag = value;
    else if (flag === '--guest-dir') a.guestDir = value;
    else if (flag === '--node') a.node = value;
    else {
      let u: URL;
      try {
        u = new URL(value);
      } catch {
        return { error: `--push ${value} is not a URL` };
      }
      const repo = u.pathname.replace(/^\/+|\/+$/g, '');
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !repo) return { error: `--push ${value}: expected http(s)://HOST:PORT/REPO` };
      a.push = { registry: new URL(`${u.protocol}//${u.host}`), repo };
    }
  }
  if (!a.out) return { error: '--out is required' };
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(a.tag ?? '')) return { error: `--tag ${a.tag}: not a valid tag` };
  return a as BuildArgs;
}

async function main(argv: string[]): Promise<number> {
  const root = projectRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const args = parseArgs(argv, version);
  if ('error' in args) {
    process.stderr.write(`${args.error}\n${USAGE}`);
    return 2;
  }
  const guest = chooseGuestDir(args.guestDir);
  if ('missing' in guest) {
    process.stderr.write(`no guest image: ${guest.missing}\n`);
    return 1;
  }
  const img = await buildInstallerImage(hostInputs(root, args.node, guest.dir), args.out, args.tag, version);
  const size = [...img.layers, img.config].reduce((n, d) => n + d.size, 0);
  process.stderr.write(`wrote ${args.out}: ${img.layers.length} layers, ${(size / 2 ** 20).toFixed(1)} MiB\n`);
  if (args.push) {
    // Credentials from the environment, never the command line (ps shows it).
    const username = process.env.REGISTRY_USERNAME;
    await pushImage(img, { registry: args.push.registry, repo: args.push.repo, tag: args.tag, username, password: username === undefined ? undefined : process.env.REGISTRY_PASSWORD });
    process.stderr.write(`pushed ${args.push.registry.host}/${args.push.repo}:${args.tag}\n`);
  }
  process.stdout.write(`${img.manifest.digest}\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`build-installer-image: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
