// The installer image's three layers, from a built checkout: a base (busybox
// and the Node.js binary's libraries), the guest image (large and changing
// rarely, so a registry keeps one copy across vmpod versions) and vmpod
// itself. The payload layout is the one install.sh's header documents.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { libraryEntries, nodeModulesEntries, PAYLOAD_DIR, parseLdd, treeEntries, type ImageEntry } from './entries';

export interface InstallerInputs {
  /** The checkout: package.json, package-lock.json, proto/, dist/, node_modules/, native/, systemd/, deploy/. */
  root: string;
  /** The Node.js binary to ship (the one vmpod runs on). */
  node: string;
  /** The guest image directory (manifest.json and the parts it names). */
  guestDir: string;
  /** The static busybox (Debian's busybox-static). */
  busybox: string;
  /** Applets to link to busybox in /bin (busybox --list). */
  applets: readonly string[];
  /** The libraries the Node.js binary and the native addon load, with the loader (parseLdd of ldd). */
  libraries: readonly { soname: string; path: string }[];
}

export interface InstallerLayers {
  base: ImageEntry[];
  guest: ImageEntry[];
  vmpod: ImageEntry[];
}

/** Parts of vmpod the image needs, relative to the checkout, each a file or a tree. */
// vsock.node second: its libraries are read from it (NATIVE[1]) below. vmpod-mount and vmpod-jail are static like vmpod-infra.
const NATIVE = ['native/infra/build/vmpod-infra', 'native/vsock/build/Release/vsock.node', 'native/infra/build/vmpod-mount', 'native/infra/build/vmpod-jail'];

export function installerLayers(i: InstallerInputs): InstallerLayers {
  const p = (rel: string): string => posix.join(PAYLOAD_DIR, rel);
  const need = (path: string, what: string): string => {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
    return path;
  };

  const base: ImageEntry[] = [
    { path: 'bin/busybox', kind: 'file', mode: 0o755, source: need(i.busybox, 'install the Debian package busybox-static') },
    ...i.applets.filter((a) => a !== 'busybox' && /^[a-z0-9_.[-]+$/.test(a)).map((a): ImageEntry => ({ path: `bin/${a}`, kind: 'symlink', target: 'busybox' })),
    ...libraryEntries(i.libraries),
    { path: 'etc/passwd', kind: 'file', mode: 0o644, content: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { path: 'etc/group', kind: 'file', mode: 0o644, content: Buffer.from('root:x:0:\n') },
    { path: 'host', kind: 'dir', mode: 0o755 },
    { path: 'tmp', kind: 'dir', mode: 0o1777 },
    { path: 'root', kind: 'dir', mode: 0o700 },
  ];

  // Only what the guest manifest names: a guest directory may hold older or scratch files.
  const manifestPath = need(join(i.guestDir, 'manifest.json'), 'build the guest image (scripts/setup)');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { parts?: Record<string, { file: string }> };
  const parts = Object.values(manifest.parts ?? {})
    .map((x) => x.file)
    .sort();
  if (parts.length === 0) throw new Error(`${manifestPath} names no parts`);
  const guest: ImageEntry[] = [
    { path: p('guest/manifest.json'), kind: 'file', mode: 0o644, source: manifestPath },
    ...parts.map((f): ImageEntry => {
      if (f.includes('/')) throw new Error(`${manifestPath} names part ${f}, not a file name`);
      return { path: p(`guest/${f}`), kind: 'file', mode: 0o644, source: need(join(i.guestDir, f), `named in ${manifestPath}`) };
    }),
  ];

  const r = (rel: string): string => need(join(i.root, rel), 'build the checkout first (npm ci, npx tsc -p ., scripts/setup)');
  const noMaps = (rel: string, dir: boolean): boolean => !dir && rel.endsWith('.js.map');
  const vmpod: ImageEntry[] = [
    { path: p('package.json'), kind: 'file', mode: 0o644, source: r('package.json') },
    ...treeEntries(r('proto'), p('proto')),
    // The daemon's code and what it shares with the guest; tests, benches and the agent's host copy stay out.
    ...treeEntries(r('dist/src'), p('dist/src'), noMaps),
    ...treeEntries(r('dist/common'), p('dist/common'), noMaps),
    ...nodeModulesEntries(i.root, p('')),
    ...NATIVE.map((n): ImageEntry => ({ path: p(n), kind: 'file', mode: 0o755, source: r(n) })),
    { path: p('bin/node'), kind: 'file', mode: 0o755, source: need(i.node, 'the Node.js binary') },
    { path: p('systemd/vmpod.service'), kind: 'file', mode: 0o644, source: r('systemd/vmpod.service') },
    { path: p('installer/install.sh'), kind: 'file', mode: 0o755, source: r('deploy/installer/install.sh') },
  ];
  return { base, guest, vmpod };
}

/** The host's facts the layers need: busybox's applets and the libraries of node and the addon (ldd). */
export function hostInputs(root: string, node: string, guestDir: string, busybox = '/bin/busybox'): InstallerInputs {
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  const libraries = [node, join(root, NATIVE[1])].flatMap((bin) => parseLdd(execFileSync('ldd', [bin], { encoding: 'utf8' })));
  return { root, node, guestDir, busybox, applets, libraries };
}
