// critest v1.26.1's validation suite (the CRI conformance tests of
// cri-tools) against the real daemon, once with the default runc handler,
// once with every pod in a VM (--runtime-handler=vm) and once with every pod
// handed a VM out of a pool, restored from a template (vm-template);
// VMPOD_CRITEST_HANDLERS picks some of them, or vm-pool (booted pool VMs). The daemon runs as a
// user starts it (dist/src/main.js serve with a TOML config) inside netns
// "critest", where the shared scripts put the registry holding critest's
// image stand-ins; critest runs in that netns too. A spec that fails and is
// not in known-failures.txt fails this test; so does a listed spec that
// passes (the list must stay true).

import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useSharedCritestWorld } from '../helpers/crictl';
import { leftoverMounts, mountPointsUnder, removeAllPods, startDaemon } from '../helpers/daemon';
import { CRITEST_DIR, CRITEST_NETNS, critestConfigFor, critestHandlers, judge, parseSpecs, readKnownFailures, sharedCritestMissing } from '../helpers/critest';

function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** Processes whose command line names `dir` (QEMU, conmon and runc name their pod's files). */
function processesNaming(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir) && Number(pid) !== process.pid) out.push(`${pid} ${cmd.slice(0, 160)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * A temp dir for critest's own files, removed after the run (mounts first,
 * also when the test fails): critest makes its pods' log dirs and the host
 * paths of its mount-propagation specs with Go's os.MkdirTemp, which honours
 * TMPDIR, and leaves some of them behind in /tmp, a bind mount included.
 */
function critestTempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-critest-tmp-'));
  chmodSync(dir, 0o1777); // what /tmp is
  t.teardown(() => {
    const mounts = mountPointsUnder(dir);
    if (mounts.length) t.comment(`critest left ${mounts.length} mount(s) in its temp dir: ${mounts.join(', ')}`);
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const missing = sharedCritestMissing();
if (missing) {
  // Said loudly: CI logs show this line, and tap reports the skip with it.
  process.stderr.write(`critest conformance stage SKIPPED: ${missing}\n`);
  t.test('critest validation', { skip: `critest conformance stage skipped: ${missing}` }, async () => undefined);
} else {
  const known = readKnownFailures();
  // The VM handlers boot one TCG guest per pod, about 80 of them each.
  t.setTimeout(50 * 60_000);

  // The registry and netns are the shared scripts' own; they stop them by PID.
  useSharedCritestWorld(t);

  for (const handler of critestHandlers(process.env.VMPOD_CRITEST_HANDLERS)) {
    t.test(`critest validation with the ${handler} handler`, async (t) => {
      const d = await startDaemon(t, { netns: CRITEST_NETNS, logLevel: 'info', config: critestConfigFor(handler) });
      const args = [d.socket, ...(handler === 'runc' ? [] : [`--runtime-handler=${handler}`])];
      const r = await run(join(CRITEST_DIR, 'run-critest.sh'), args, 45 * 60_000, { TMPDIR: critestTempDir(t) });
      const specsPath = /== per-spec results: (\S+)/.exec(r.out)?.[1];
      const summary = r.out.split('\n').filter((l) => l.startsWith('critest: ') || l.startsWith('== critest'));
      t.comment(summary.join('\n'));
      if (!specsPath || !existsSync(specsPath)) {
        t.fail(`critest produced no per-spec results (exit ${r.code}):\n${r.out.slice(-4000)}`);
        return;
      }
      const v = judge(parseSpecs(readFileSync(specsPath, 'utf8')), known, handler);
      const failedBlock = r.out.slice(r.out.indexOf('== failed specs'), r.out.indexOf('== log:'));
      t.same(v.unexpected, [], `${handler}: every failing spec is a known failure with a reason\n${failedBlock}`);
      t.same(
        v.stale.map((k) => k.spec),
        [],
        `${handler}: every known failure still fails (else remove it from known-failures.txt)`,
      );
      t.same(
        v.missing.map((k) => k.spec),
        [],
        `${handler}: every known failure names a spec critest runs`,
      );
      t.ok(v.passed > 0, `${handler}: ${v.passed} specs passed`);
      for (const k of v.known) t.comment(`known failure (${handler}): ${k.spec} -- ${k.reason}`);

      // Some critest specs leave their pod behind when they fail (e.g. "HostNetwork
      // is false" has no AfterEach); remove those as kubelet would, then look for
      // anything vmpod itself leaked.
      const left = (await d.client.runtime.ListPodSandbox({})).items;
      if (left.length) t.comment(`${handler}: critest left ${left.length} pod(s): ${left.map((p) => p.metadata?.name).join(', ')}`);
      await removeAllPods(d.client);
      t.same(
        (await d.client.runtime.ListPodSandbox({})).items.map((p) => p.id),
        [],
        `${handler}: every pod critest left is removable`,
      );
      t.equal(await d.stop(), 0, `${handler}: daemon exits 0 on SIGTERM`);
      t.same(leftoverMounts(d.dir, d.state), [], `${handler}: no mount left under the daemon's directories`);
      t.same(processesNaming(d.dir), [], `${handler}: no QEMU, conmon or runc process of the daemon left`);
    });
  }
}
