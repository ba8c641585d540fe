// Pods on pre-booted pool VMs (`pool_size`, sandbox/microvm/pool.ts), end to
// end: test/helpers/pool-e2e.ts says what is checked. Here every pool VM
// boots on its own, so each pod's guest kernel is its own (boot_id).
//
// VMs: three boots (the pool's first VM, its refill for the second pod, the
// spare the stop kills at once), overlapping; the pods themselves boot
// nothing. Measured: 44 s alone, 82 s at load 4-6.

import t from 'tap';
import { poolPodsE2e } from '../helpers/pool-e2e';

// Three TCG boots, partly in parallel, on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

poolPodsE2e(t, { template: false, tmpPrefix: 'vpl-', netnsPrefix: 'vmpod-pool-', cniName: 'vmpool', subnet: '10.88.83.0/24', imageTag: 'pool' });
