// CheckpointContainer of a runc container, against real runc, conmon and the
// CRIU scripts/setup builds: a shell counting in a variable (its state is in
// memory only) is checkpointed with --leave-running into an archive of the
// documented layout, keeps running, and a container restored from that
// archive (runc restore from its CRIU images, over its rootfs diff) goes on
// counting from where the dump found it instead of from 1. A request for a
// stopped container, a relative location or a missing directory gets its code.

import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { ContainerConfig__Output } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import { checkpointOptions } from '../../src/pods/checkpoint';
import { ARCHIVE_ENTRIES, missingEntries, parseMetadata } from '../../src/sandbox/runc/checkpoint-archive';
import { checkpointRuncContainer, criuErrors, CRIU_BINARY } from '../../src/sandbox/runc/checkpoint';
import { extractRootfsDiff, unpackCheckpoint } from '../../src/sandbox/runc/checkpoint-restore';
import { RuncPaths } from '../../src/sandbox/runc/paths';
import { RuncFixture, runcMissing } from '../helpers/runc-fixture';

for (const what of runcMissing()) t.fail(`missing component: ${what}`);
if (!existsSync(CRIU_BINARY)) t.fail(`missing component: CRIU at ${CRIU_BINARY} (scripts/setup builds it)`);

const w = new RuncFixture('vmpod-ckpt-', {
  applets: ['sh', 'echo', 'sleep', 'cat', 'rm'],
  passwd: 'root:x:0:0:root:/root:/bin/sh\n',
  group: 'root:x:0:\n',
});
const mounted: string[] = [];
const restored: string[] = [];
const runcRoot = new RuncPaths(w.state).runcRoot;
const deps = { runcBinary: '/usr/sbin/runc', runcRoot };
t.teardown(async () => {
  for (const id of restored) execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
  for (const m of mounted.reverse()) execFileSync('umount', [m], { stdio: 'ignore' });
  await w.dispose();
});

function config(name: string, script: string): ContainerConfig__Output {
  return {
    metadata: { name, attempt: 0 },
    image: null,
    command: ['/bin/sh', '-c', script],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
  };
}

/** An overlay over `lower` with a fresh upper dir (filled from `diff`, a rootfs-diff.tar, when given), as the image store gives a container. */
async function overlay(name: string, lower: string, diff?: string): Promise<string> {
  const base = join(w.dir, 'ovl', name);
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
  if (diff) await extractRootfsDiff(diff, join(base, 'upper'));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`, join(base, 'merged')]);
  mounted.push(join(base, 'merged'));
  return join(base, 'merged');
}

const counts = (log: string): number[] =>
  readFileSync(log, 'utf8')
    .split('\n')
    .map((l) => /^\S+ stdout F (\d+)$/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);

/** /tmp/count as the archive's rootfs diff holds it. */
function countInDiff(archive: string): number {
  const diff = execFileSync('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.rootfsDiff}`]);
  return Number(execFileSync('tar', ['-xOf', '-', './tmp/count'], { input: diff, encoding: 'utf8' }).trim());
}

async function until<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The count lives only in the shell's variable; /tmp/count (written to the
// writable layer) and the deleted /etc/group show the rootfs diff.
const SCRIPT = 'rm /etc/group; i=0; while true; do i=$((i+1)); echo $i; echo $i > /tmp/count; sleep 0.2; done';

t.test('checkpoint a counting shell, keep it running, restore it from the archive', async (t) => {
  const sb = await w.createPod(`ckpod${process.pid}`, w.podConfig('ckpod'), 'ckpod');
  const lower = w.busyboxRootfs('counter');
  const id = `${sb.id}-counter`;
  const logPath = join(w.logs, 'counter.log');
  const made = await w.ctl.createContainer({ id, sandbox: sb, config: config('counter', SCRIPT), image: {}, rootfs: await overlay('counter', lower), logPath, log: w.log });
  const c = { id, logPath, data: made.data };
  w.containers.push(c);
  await w.ctl.startContainer(sb, c);
  const before = await until('the count to reach 3', () => counts(logPath).find((n) => n >= 3));

  const archive = join(w.dir, 'counter.tar');
  await checkpointRuncContainer(deps, c, checkpointOptions(archive, 0));
  t.equal((await w.ctl.containerState(sb, c)).state, 'running', '--leave-running: the container still runs');
  t.equal(statSync(archive).mode & 0o777, 0o600, 'the archive (it holds memory) is readable by root alone');
  t.same(
    readdirSync(w.dir).filter((n) => n.includes('vmpod-checkpoint')),
    [],
    'the work dir is gone',
  );
  const listing = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);
  t.same(missingEntries(listing), [], 'the archive has every entry of the layout');
  t.ok(
    listing.some((n) => n.replace(/^\.\//, '') === ARCHIVE_ENTRIES.dumpLog),
    "CRIU's dump.log is kept",
  );
  const meta = parseMetadata(execFileSync('tar', ['-xOf', archive, `./${ARCHIVE_ENTRIES.config}`], { encoding: 'utf8' }), archive);
  t.match(meta, { id, name: 'counter', podSandboxId: sb.id, runtime: 'runc', criuVersion: '4.2.1' });

  // The diff is taken after the dump: its /tmp/count is at least the count the images hold.
  const inDiff = countInDiff(archive);
  t.ok(inDiff >= before, `the rootfs diff holds the shell's /tmp/count (${inDiff})`);
  await until('the original to count past the checkpoint', () => counts(logPath).find((n) => n >= inDiff + 5));
  await w.ctl.stopContainer(sb, c, 9, 0, w.log);

  // Restore: the archive's rootfs diff over the same lower layer, its spec with the new root and cgroup, runc restore from its images.
  const rdir = join(w.dir, 'restore');
  mkdirSync(rdir);
  const unpacked = await unpackCheckpoint(archive, rdir);
  t.same(unpacked.metadata, meta, 'the unpacked config.dump is the one written');
  const root = await overlay('restored', lower, unpacked.rootfsDiff);
  t.equal(readFileSync(join(root, 'tmp', 'count'), 'utf8').trim().length > 0, true, 'the rootfs diff holds the file the shell wrote');
  t.notOk(existsSync(join(root, 'etc', 'group')), 'the rootfs diff holds the deletion (whiteout)');
  const spec = unpacked.spec as { root: { path: string }; linux: { cgroupsPath?: string } };
  spec.root.path = root;
  if (spec.linux.cgroupsPath) spec.linux.cgroupsPath = `${spec.linux.cgroupsPath}-restored`;
  const bundle = join(rdir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const rid = `${id}-restored`;
  restored.push(rid);
  // runc restore hands its own stdio to the restored process for the pipes conmon gave the original
  // (descriptors.json); CRIU reopens them through /proc, which a socket (node's stdio) refuses: real pipes, through cat.
  const restore = ['/usr/sbin/runc', '--root', runcRoot, '--criu', CRIU_BINARY, 'restore', '-d', '--image-path', unpacked.imagesDir, '--work-path', rdir, '--bundle', bundle, rid];
  const child = spawn('bash', ['-c', 'set -o pipefail; cat | "$@" 2>&1 | cat; echo "runc restore: exit $?" >&2', 'restore', ...restore], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: number[] = [];
  const other: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => (/^\d+$/.test(l) ? lines.push(Number(l)) : other.push(l)));
  createInterface({ input: child.stderr }).on('line', (l) => other.push(l));
  t.teardown(() => {
    child.stdin.end();
  });
  const first = await until('the restored shell to print', () => lines[0] ?? (other.some((l) => l.startsWith('runc restore: exit')) ? -1 : undefined)).catch(() => -1);
  const criuLog = join(rdir, 'restore.log');
  t.not(first, -1, `runc restore succeeds: ${other.join(' ')} ${existsSync(criuLog) ? criuErrors(readFileSync(criuLog, 'utf8')) : ''}`);
  t.ok(first > before, `the restored shell goes on from its checkpointed count (${first} after ${before}), not from 1`);
  t.ok(first <= inDiff + 1, `and from the dump's state, not from the original's later one (${first} <= ${inDiff + 1})`);
  execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'kill', rid, 'KILL'], { stdio: 'ignore' });
});

t.test('requests that cannot be checkpointed get their code', async (t) => {
  t.throws(() => checkpointOptions('relative.tar', 0), InvalidArgumentError);
  t.throws(() => checkpointOptions(join(w.dir, 'no-such-dir', 'x.tar'), 0), NotFoundError);
  t.throws(() => checkpointOptions(w.dir, 0), InvalidArgumentError, 'a directory is not an archive path');
  const notTar = join(w.dir, 'not-a-tar');
  writeFileSync(notTar, 'hello');
  mkdirSync(join(w.dir, 'unpack1'));
  await t.rejects(unpackCheckpoint(notTar, join(w.dir, 'unpack1')), /is not a tar archive/, 'a file that is not a tar is refused naming it');
  const plainTar = join(w.dir, 'plain.tar');
  execFileSync('tar', ['-C', w.dir, '-cf', plainTar, 'not-a-tar']);
  await t.rejects(unpackCheckpoint(plainTar, join(w.dir, 'unpack1')), /is not a checkpoint archive: it has no spec\.dump/, 'a tar without the layout is refused naming what it lacks');
  const sb = w.pod();
  const lower = w.busyboxRootfs('done');
  const id = `${sb.id}-done`;
  const made = await w.ctl.createContainer({ id, sandbox: sb, config: config('done', 'true'), image: {}, rootfs: await overlay('done', lower), logPath: join(w.logs, 'done.log'), log: w.log });
  const c = { id, logPath: join(w.logs, 'done.log'), data: made.data };
  w.containers.push(c);
  await w.ctl.startContainer(sb, c);
  await until('the container to exit', () => (existsSync(join(w.state, 'exits', id)) ? true : undefined));
  await t.rejects(checkpointRuncContainer(deps, c, checkpointOptions(join(w.dir, 'done.tar'), 0)), 'an exited container is not checkpointed');
  t.notOk(existsSync(join(w.dir, 'done.tar')), 'no archive is left behind');
  t.same(
    readdirSync(w.dir).filter((n) => n.includes('vmpod-checkpoint')),
    [],
    'nor a work dir',
  );
});
