// Two checkouts of the same commit, at different paths, must name the same
// guest image. Each checkout builds its own agent bundle and vsock addon (as
// scripts/setup does) and then asks guest-image/build for the input hash
// (--print-hash: the code that names /var/cache/vmpod/guest/<hash>, stopped
// before anything is downloaded or written). When the hashes differ, every
// clone rebuilds the ~250 MB image and daemons of different checkouts use
// different guests; the test then prints the input lines that differ.
//
// The checkouts are clones of this repository's HEAD (the committed tree,
// not uncommitted edits), at paths of different depth, sharing this
// checkout's node_modules through a symlink as a worktree would.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../..');

/**
 * The environment of a plain `scripts/setup` run: no overrides of the build's
 * inputs. The caches (not inputs) point into the test's own directory, so that
 * even a build that ignored --print-hash could not touch the machine's cache.
 */
function plainEnv(base: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('VMPOD_')) delete env[k];
  return { ...env, VMPOD_GUEST_CACHE: join(base, 'cache'), VMPOD_DEB_CACHE: join(base, 'debs'), VMPOD_GUEST_RECORD: '' };
}

const missing =
  (existsSync(join(REPO, '.git')) ? undefined : `${REPO} is not a git checkout (the test clones its HEAD twice)`) ??
  (existsSync(join(REPO, 'node_modules/.bin/esbuild')) ? undefined : 'node_modules/.bin/esbuild (npm ci)') ??
  (existsSync(join(REPO, 'node_modules/.bin/node-gyp')) ? undefined : 'node_modules/.bin/node-gyp (npm ci)');

if (missing) {
  t.fail(`guest image hash test cannot run, missing: ${missing}`);
} else {
  const base = mkdtempSync(join(tmpdir(), 'vmpod-guest-hash-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const run = (cmd: string, args: string[], cwd: string): string => execFileSync(cmd, args, { cwd, env: plainEnv(base), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const commit = run('git', ['rev-parse', 'HEAD'], REPO).trim();

  /** Clone HEAD to `dir` and build what scripts/setup builds before the image. */
  const checkout = (dir: string): string => {
    mkdirSync(dir, { recursive: true });
    run('git', ['clone', '--quiet', '--shared', '--no-checkout', REPO, dir], base);
    run('git', ['checkout', '--quiet', '--detach', commit], dir);
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    run('scripts/build-agent', [], dir);
    run('scripts/build-native', [], dir);
    return dir;
  };
  const hashOf = (dir: string): string => run('guest-image/build', ['--print-hash'], dir).trim();
  const inputsOf = (dir: string): string[] => run('guest-image/build', ['--print-inputs'], dir).split('\n').filter(Boolean);

  t.test('two checkouts of one commit at different paths compute the same guest image hash', async (t) => {
    const a = checkout(join(base, 'a'));
    const b = checkout(join(base, 'somewhere', 'deeper', 'checkout-b'));
    const [hashA, hashB] = [hashOf(a), hashOf(b)];
    t.match(hashA, /^[0-9a-f]{64}$/, 'the build prints a sha256');
    t.equal(hashB, hashA, `same hash for ${commit.slice(0, 12)} in both checkouts`);
    if (hashA !== hashB) {
      const [inA, inB] = [inputsOf(a), inputsOf(b)];
      t.comment(`inputs only in ${a}:\n${inA.filter((l) => !inB.includes(l)).join('\n')}`);
      t.comment(`inputs only in ${b}:\n${inB.filter((l) => !inA.includes(l)).join('\n')}`);
    }
  });

  // The guest kernel's cache is keyed by its inputs (guest-image/kernel/build
  // --print-hash), a fragment by its settings only: a comment must not cost a
  // 10-minute rebuild, and a setting, `# CONFIG_X is not set` included, must.
  t.test('the guest kernel hash follows what a fragment sets, not its comments', async (t) => {
    const dir = join(base, 'kernel');
    cpSync(join(REPO, 'guest-image/kernel'), dir, { recursive: true });
    const fragment = join(dir, 'vmpod.config');
    const original = readFileSync(fragment, 'utf8');
    const hash = (): string => run(join(dir, 'build'), ['--print-hash'], dir).trim();
    const base0 = hash();
    t.match(base0, /^[0-9a-f]{64}$/, 'the kernel build prints a sha256');
    writeFileSync(fragment, `${original}\n# a comment, and a blank line above\n`);
    t.equal(hash(), base0, 'a comment or a blank line leaves the hash as it was');
    writeFileSync(fragment, `${original}# CONFIG_VMPOD_TEST_OPTION is not set\n`);
    const unset = hash();
    t.not(unset, base0, '`# CONFIG_X is not set` changes it');
    writeFileSync(fragment, `${original}CONFIG_VMPOD_TEST_OPTION=y\n`);
    const set = hash();
    t.not(set, base0, 'a setting changes it');
    t.not(set, unset, 'and =y differs from is not set');
  });
}
