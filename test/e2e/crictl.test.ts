// crictl, the tool operators debug a node with, against the daemon started
// as a user starts it (dist/src/main.js serve with a TOML config file; the
// crictl.yaml of the README). One runc pod and one VM pod go through the
// README's walk-through: pull, runp, create, start, ps, inspectp, inspect,
// logs, exec, stats, statsp, stop, rm, stopp, rmp; afterwards nothing of
// either pod is left. The crictl is the shared v1.26.1 build, run in place
// from ../shared/critest/bin; the registry and netns are the shared
// scripts' (critest's busybox stand-in on 127.0.0.1:5000 in netns "critest").

import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftoverMounts, startDaemon } from '../helpers/daemon';
import { CRITEST_NETNS, critestDaemonConfig, sharedCritestMissing } from '../helpers/critest';
import { crictlFor, inCritestNetns, runTool, useSharedCritestWorld, writeCrictlPod } from '../helpers/crictl';

const IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';

const missing = sharedCritestMissing(['bin/crictl', 'setup-images.sh', 'teardown.sh', 'cni/10-critest.conflist']);
if (missing) {
  process.stderr.write(`crictl e2e stage SKIPPED: ${missing}\n`);
  t.test('crictl walk-through', { skip: `crictl e2e stage skipped: ${missing}` }, async () => undefined);
} else {
  t.setTimeout(15 * 60_000);
  useSharedCritestWorld(t);

  t.test('the README walk-through with crictl, for a runc pod and a VM pod', async (t) => {
    const d = await startDaemon(t, { netns: CRITEST_NETNS, config: critestDaemonConfig() });
    // crictl runs in the daemon's netns: exec, port-forward and pod IPs are reached from there.
    const crictl = crictlFor(d).run;
    // crictl 1.26 stops reading flags at the first argument: -o goes right after the command.
    const json = async <T>(cmd: string, ...args: string[]): Promise<T> => JSON.parse(await crictl(cmd, '-o', 'json', ...args)) as T;

    t.match(await crictl('version'), /RuntimeName:\s+vmpod/, 'crictl version reaches vmpod');
    const info = await json<{ status: { conditions: { type: string; status: boolean }[] } }>('info');
    t.same(
      info.status.conditions.map((c) => [c.type, c.status]),
      [
        ['RuntimeReady', true],
        ['NetworkReady', true],
      ],
      'crictl info: runtime and network ready',
    );
    await crictl('pull', IMAGE);
    t.match(await crictl('images'), /e2e-test-images\/busybox\s+1\.29-2/, 'crictl images lists the pulled image');

    const hostKernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    for (const kind of ['runc', 'vm'] as const) {
      const podJson = writeCrictlPod(d.dir, 'demo', kind);
      const ctrJson = join(d.dir, `ctr-${kind}.json`);
      writeFileSync(
        ctrJson,
        JSON.stringify({
          metadata: { name: 'web' },
          image: { image: IMAGE },
          command: ['/bin/sh', '-c', 'echo hello from $(uname -r); exec httpd -f -p 8080'],
          log_path: 'web.log',
          linux: {},
        }),
      );
      const pod = (await crictl('runp', podJson)).trim();
      t.match(pod, /^[0-9a-f]{64}$/, `${kind}: runp prints the pod id`);
      const ctr = (await crictl('create', pod, ctrJson, podJson)).trim();
      t.match(ctr, /^[0-9a-f]{64}$/, `${kind}: create prints the container id`);
      await crictl('start', ctr);

      const ps = await json<{ containers: { id: string; state: string; podSandboxId: string }[] }>('ps');
      t.match(
        ps.containers.find((c) => c.id === ctr),
        { state: 'CONTAINER_RUNNING', podSandboxId: pod },
        `${kind}: ps shows the container running`,
      );
      const inspp = await json<{ status: { state: string; network: { ip: string } }; info: { runtimeHandler?: string; handler?: string } }>('inspectp', pod);
      t.equal(inspp.status.state, 'SANDBOX_READY', `${kind}: inspectp shows the pod ready`);
      t.match(inspp.status.network.ip, /^10\.88\.\d+\.\d+$/, `${kind}: inspectp shows the pod IP from CNI`);
      const insp = await json<{ status: { state: string; image: { image: string } } }>('inspect', ctr);
      t.equal(insp.status.state, 'CONTAINER_RUNNING', `${kind}: inspect shows the container running`);

      // The first line can take a moment in a VM (the container starts asynchronously in the guest).
      let logs = '';
      for (let i = 0; i < 100 && !/hello from/.test(logs); i++) {
        logs = await crictl('logs', ctr);
        if (!/hello from/.test(logs)) await new Promise((r) => setTimeout(r, 100));
      }
      const kernel = /hello from (\S+)/.exec(logs)?.[1];
      if (kind === 'vm') t.not(kernel, hostKernel, `vm: logs show the guest's kernel (${kernel}), not the host's`);
      else t.equal(kernel, hostKernel, 'runc: logs show the host kernel');
      // exec as the README shows it: through the streaming server (not ExecSync's -s).
      const version = await crictl('exec', ctr, 'cat', '/proc/sys/kernel/osrelease');
      t.equal(version.trim(), kernel, `${kind}: exec runs in the container`);
      const http = await runTool(inCritestNetns(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${inspp.status.network.ip}:8080/`]), { timeoutMs: 30_000 });
      t.match(http.stdout, /^[2-4]\d\d$/, `${kind}: httpd answers on the pod IP`);

      const stats = await json<{ stats: { attributes: { id: string } }[] }>('stats');
      t.ok(
        stats.stats.some((s) => s.attributes.id === ctr),
        `${kind}: stats lists the container`,
      );
      const statsp = await json<{ stats: { attributes: { id: string } }[] }>('statsp');
      t.ok(
        statsp.stats.some((s) => s.attributes.id === pod),
        `${kind}: statsp lists the pod`,
      );

      await crictl('stop', ctr);
      t.match((await json<{ status: { state: string } }>('inspect', ctr)).status.state, 'CONTAINER_EXITED', `${kind}: stop leaves it exited`);
      await crictl('rm', ctr);
      await crictl('stopp', pod);
      await crictl('rmp', pod);
      t.equal((await crictl('pods', '-q')).trim(), '', `${kind}: no pod left`);
      t.equal((await crictl('ps', '-a', '-q')).trim(), '', `${kind}: no container left`);
    }

    t.equal(await d.stop(), 0, 'daemon exits 0 on SIGTERM');
    t.same(leftoverMounts(d.dir, d.state), [], 'no mount of either pod left');
    const procs = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return Number(p) !== process.pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(d.dir);
        } catch {
          return false;
        }
      });
    t.same(procs, [], 'no QEMU, conmon or container process left');
  });
}
