// Benchmark: pull + unpack of a multi-layer image from a local
// docker-registry, vmpod's image service against `skopeo copy` +
// `umoci unpack` (Debian) of the same image in the same run.
//
//   npx tsc ... --outDir dist-image && node dist-image/bench/image-pull.js [runs]
//
// Prints the median wall time of each and the ratio vmpod / (skopeo+umoci).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageService } from '../src/image';
import { silentLogger } from '../src/log';
import { busyboxEntries, makeTar, RegistryPusher } from '../test/helpers/image-builder';
import { startRegistry } from '../test/helpers/registry';
import { Cleanup, runWithCleanup } from './lib/cleanup';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Compressible content: mostly text-like with some random bytes, as real layers are. */
function payload(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let off = 0; off < bytes; off += 4096) {
    if ((off / 4096) % 4 === 0) randomBytes(Math.min(4096, bytes - off)).copy(b, off);
    else b.write('the quick brown fox jumps over the lazy dog\n'.repeat(100).slice(0, Math.min(4096, bytes - off)), off);
  }
  return b;
}

async function main(cleanup: Cleanup): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const work = mkdtempSync(join(tmpdir(), 'vmpod-bench-'));
  cleanup.add('work dir', () => rmSync(work, { recursive: true, force: true }));
  const reg = await startRegistry();
  cleanup.add('registry', () => reg.stop());
  const layers: { tar: Buffer; compression: 'gzip' }[] = [{ tar: await makeTar(busyboxEntries()), compression: 'gzip' }];
  for (let i = 0; i < 4; i++) {
    const files = Array.from({ length: 200 }, (_, j) => ({ name: `data${i}/f${j}`, content: payload(16 << 10) }));
    layers.push({ tar: await makeTar([{ name: `data${i}/` }, ...files, { name: `data${i}/big`, content: payload(4 << 20) }]), compression: 'gzip' });
  }
  await new RegistryPusher(reg).pushImage('bench/app', 'v1', layers);
  const ref = `${reg.host}/bench/app:v1`;
  const totalTar = layers.reduce((n, l) => n + l.tar.length, 0);
  console.log(`image: ${layers.length} layers, ${(totalTar / 2 ** 20).toFixed(1)} MiB uncompressed, registry ${reg.host}`);

  const policy = join(work, 'policy.json');
  writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const vmpod: number[] = [];
  const reference: number[] = [];
  for (let r = 0; r < runs; r++) {
    const root = join(work, `vmpod${r}`);
    let t = process.hrtime.bigint();
    const svc = await createImageService({ root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
    await svc.pull(ref, null);
    vmpod.push(Number(process.hrtime.bigint() - t) / 1e6);
    rmSync(root, { recursive: true, force: true });

    const oci = join(work, `oci${r}`);
    const bundle = join(work, `bundle${r}`);
    t = process.hrtime.bigint();
    execFileSync('skopeo', ['--policy', policy, 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${oci}:v1`]);
    execFileSync('umoci', ['unpack', '--image', `${oci}:v1`, bundle], { stdio: 'ignore' });
    reference.push(Number(process.hrtime.bigint() - t) / 1e6);
    rmSync(oci, { recursive: true, force: true });
    rmSync(bundle, { recursive: true, force: true });
  }
  const a = median(vmpod);
  const b = median(reference);
  console.log(`runs: ${runs}`);
  console.log(`vmpod pull+unpack        median ${a.toFixed(0)} ms  (${vmpod.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`skopeo copy+umoci unpack median ${b.toFixed(0)} ms  (${reference.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`ratio vmpod / (skopeo+umoci): ${(a / b).toFixed(2)}`);
}

if (require.main === module) {
  // Also on Ctrl-C or a closed output (`bench | head`): the registry and the work dir go.
  const cleanup = new Cleanup();
  void runWithCleanup(cleanup, () => main(cleanup)).then((code) => (process.exitCode = code));
}
