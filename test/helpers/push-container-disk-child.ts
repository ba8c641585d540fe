// Child process that pushes a disk file as a KubeVirt containerDisk to a
// plain-HTTP registry, run by a test inside the network namespace where that
// registry listens (the shared critest world's 127.0.0.1:5000 is reachable
// only from its netns): `nsenter --net=<netns> node <this> <disk> <host> <repo> <tag>`.
// Prints the pushed reference on stdout.

import { pushContainerDisk } from './container-disk';

async function main(): Promise<void> {
  const [disk, host, repo, tag] = process.argv.slice(2);
  if (!disk || !host || !repo || !tag) throw new Error('usage: push-container-disk-child <disk> <registry host:port> <repo> <tag>');
  const ref = await pushContainerDisk({ host, scheme: 'http' }, repo, tag, disk);
  process.stdout.write(`${ref}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
