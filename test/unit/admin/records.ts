// A ready pod record as the admin views read it, for the admin unit tests.

import type { SandboxRecord } from '../../../src/store/sandbox';

export function readyPodRecord(id: string, handler: string, createdAt = '1', extra: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    schema: 2,
    id,
    config: { metadata: { name: `n-${id[0]}`, namespace: 'ns', uid: 'u', attempt: 0 } } as SandboxRecord['config'],
    handler,
    routeReason: '',
    createdAt,
    namespaces: {} as SandboxRecord['namespaces'],
    hostname: '',
    state: 'SANDBOX_READY',
    creating: false,
    netnsPath: '',
    ip: '',
    additionalIps: [],
    controller: { v: 1 },
    ...extra,
  };
}
