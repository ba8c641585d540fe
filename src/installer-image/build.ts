// The installer image from its layers: install.sh is the entrypoint, and the
// environment is the DaemonSet's (HOST_ROOT=/host, PAYLOAD beside the
// script), so `image` alone installs into whatever is mounted at /host.

import { PAYLOAD_DIR } from './entries';
import { writeImageLayout, type BuiltImage } from './oci';
import { installerLayers, type InstallerInputs } from './payload';

export const INSTALL_SH = `/${PAYLOAD_DIR}/installer/install.sh`;

export async function buildInstallerImage(inputs: InstallerInputs, outDir: string, tag: string, version: string): Promise<BuiltImage> {
  const l = installerLayers(inputs);
  return writeImageLayout(
    outDir,
    [l.base, l.guest, l.vmpod],
    {
      entrypoint: [INSTALL_SH],
      env: ['PATH=/bin', 'HOST_ROOT=/host', `PAYLOAD=/${PAYLOAD_DIR}`],
      labels: { 'org.opencontainers.image.title': 'vmpod-installer', 'org.opencontainers.image.version': version },
    },
    tag,
  );
}
