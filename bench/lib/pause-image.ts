// The pause image containerd needs for its sandboxes (vmpod runs its infra
// binary directly): the project's static vmpod-infra, or, said loudly by
// the caller, a busybox placeholder running sleep when it is not built.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths';
import { BUSYBOX, type TarEntry } from '../../test/helpers/image-builder';

export const INFRA_BINARY = join(projectRoot(), 'native', 'infra', 'build', 'vmpod-infra');

export function pauseLayer(): { entries: TarEntry[]; entrypoint: string[]; placeholder: boolean } {
  if (existsSync(INFRA_BINARY)) return { entries: [{ name: 'pause', content: readFileSync(INFRA_BINARY), mode: 0o755 }], entrypoint: ['/pause'], placeholder: false };
  return { entries: [{ name: 'bin/' }, { name: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 }], entrypoint: ['/bin/busybox', 'sleep', '2147483647'], placeholder: true };
}
