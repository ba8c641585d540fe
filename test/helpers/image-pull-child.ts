// Child process for the "daemon killed mid-pull" test: one image service
// pulling one image, so that the test can SIGKILL it at a chosen moment.
// argv: <root> <registries JSON> <image>

import { createImageService, type ImageServiceOptions } from '../../src/image';
import { silentLogger } from '../../src/log';

async function main(): Promise<void> {
  const [root, registries, image] = process.argv.slice(2);
  const svc = await createImageService({ root, registries: JSON.parse(registries) as ImageServiceOptions['registries'], log: silentLogger });
  process.send?.('started');
  await svc.pull(image, null);
  process.send?.('pulled');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
