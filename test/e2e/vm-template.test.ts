// Pods on VMs restored from a template (`template = true` with `pool_size =
// 1`, sandbox/microvm/template.ts), end to end: test/helpers/pool-e2e.ts
// says what is checked. Here one VM boots (the template), and every pool VM
// is restored from it: the pods' guests go on from the template's kernel
// yet read different RNG bytes, map the sealed template RAM copy-on-write,
// and are otherwise each their own as pool VMs are.
//
// VMs: one boot and three restores (the pool's first VM, its refill, the
// spare the stop kills). Measured: 16 s alone.

import t from 'tap';
import { poolPodsE2e } from '../helpers/pool-e2e';

t.setTimeout(10 * 60_000);

poolPodsE2e(t, { template: true, tmpPrefix: 'vtp-', netnsPrefix: 'vmpod-tmpl-', cniName: 'vmtmpl', subnet: '10.88.87.0/24', imageTag: 'template' });
