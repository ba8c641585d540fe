// A pod's network counters are read through a process the host started in
// its netns (/proc/<pid>/net/dev, no process spawned), and through nsenter
// when the pid given is not in that namespace (a pid reused by a process
// elsewhere): both read the same namespace. In a network namespace this
// test creates and deletes.

import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readPodNetwork, readThroughMember } from '../../src/network/net-dev';

const ns = `vmpod-netdev-${process.pid}`;
const pin = `/run/netns/${ns}`;
const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: 'pipe' });
};

t.before(() => {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0');
});
t.teardown(() => {
  ip('netns', 'delete', ns);
});

t.test('through a member process, through nsenter, and with a pid from another namespace: the same interfaces', async (t) => {
  const member = spawn('ip', ['netns', 'exec', ns, 'sleep', '60'], { stdio: 'ignore' });
  t.teardown(async () => {
    if (member.exitCode === null && member.signalCode === null) {
      member.kill('SIGKILL');
      await once(member, 'exit');
    }
  });
  // `ip netns exec` execs sleep in place: the child's pid is sleep's once it has entered the namespace.
  const nsIno = execFileSync('stat', ['-L', '-c', '%i', pin], { encoding: 'utf8' }).trim();
  for (let i = 0; i < 100; i++) {
    const link = execFileSync('readlink', [`/proc/${member.pid}/ns/net`], { encoding: 'utf8' }).trim();
    if (link === `net:[${nsIno}]`) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const names = (f: Awaited<ReturnType<typeof readPodNetwork>>): string[] => f.interfaces.map((i) => i.name).sort();
  const viaMember = await readPodNetwork(pin, member.pid);
  const viaNsenter = await readPodNetwork(pin);
  const viaStranger = await readPodNetwork(pin, process.pid);
  t.same(names(viaMember), ['eth0', 'peer0'], 'the namespace the test made, loopback left out');
  t.equal(viaMember.defaultInterface?.name, 'eth0', 'eth0 is the default');
  t.same(names(viaNsenter), names(viaMember), 'nsenter reads the same namespace');
  t.same(names(viaStranger), names(viaMember), "a pid outside the namespace is not trusted: the pod's own namespace is read anyway");
  t.match(await readThroughMember(pin, member.pid!), /eth0:/, 'the member path itself reads the counters (no process spawned)');
  t.equal(await readThroughMember(pin, process.pid), undefined, 'and refuses a pid in another namespace');
});
