// What one runc handler needs from the host: runc and conmon.

import { binaryCapability } from '../../host/capabilities';
import type { HostReport } from '../registry';

export async function checkRuncHost(name: string): Promise<HostReport> {
  return {
    capabilities: [await binaryCapability('runc', 'runc', ['--version'], 'runc', [name]), await binaryCapability('conmon', 'conmon', ['--version'], 'conmon', [name])],
    decisions: [],
  };
}
