import t from 'tap';
import { ALL_CAPABILITIES, capabilitiesFromMask } from '../../../common/capabilities';
import { DEFAULT_CAPABILITIES, normalizeCapability, resolveCapabilities } from '../../../src/oci/capabilities';
import type { SpecNote } from '../../../src/oci/input';

const allButSysResource = new Set<string>(ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'));
const caps = (add: string[], drop: string[]) => ({ add_capabilities: add, drop_capabilities: drop, add_ambient_capabilities: [] });

t.test('capability sets', async (t) => {
  const cases: { desc: string; add: string[]; drop: string[]; privileged?: boolean; has: string[]; lacks: string[] }[] = [
    { desc: 'defaults', add: [], drop: [], has: DEFAULT_CAPABILITIES, lacks: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] },
    { desc: 'add NET_ADMIN (no prefix)', add: ['NET_ADMIN'], drop: [], has: ['CAP_NET_ADMIN', 'CAP_CHOWN'], lacks: [] },
    { desc: 'drop one', add: [], drop: ['CHOWN'], has: ['CAP_KILL'], lacks: ['CAP_CHOWN'] },
    { desc: 'drop ALL then add one', add: ['CAP_NET_BIND_SERVICE'], drop: ['ALL'], has: ['CAP_NET_BIND_SERVICE'], lacks: ['CAP_CHOWN', 'CAP_KILL'] },
    { desc: 'privileged gets everything the daemon holds', add: [], drop: [], privileged: true, has: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], lacks: ['CAP_SYS_RESOURCE'] },
  ];
  for (const c of cases) {
    const notes: SpecNote[] = [];
    const r = resolveCapabilities(caps(c.add, c.drop), c.privileged ?? false, allButSysResource, notes);
    for (const h of c.has) t.ok(r.bounding.includes(h) && r.effective.includes(h), `${c.desc}: has ${h}`);
    for (const l of c.lacks) t.notOk(r.bounding.includes(l), `${c.desc}: lacks ${l}`);
    t.same(r.inheritable, [], `${c.desc}: empty inheritable`);
  }
});

t.test('a capability the daemon lacks is withheld and noted', async (t) => {
  const notes: SpecNote[] = [];
  const r = resolveCapabilities(caps(['SYS_RESOURCE'], []), false, allButSysResource, notes);
  t.notOk(r.bounding.includes('CAP_SYS_RESOURCE'), 'not granted');
  t.equal(notes.length, 1, 'one note');
  t.same(notes[0].detail, { capabilities: ['CAP_SYS_RESOURCE'] }, 'names the capability');
});

t.test('mask parsing and names', async (t) => {
  const set = capabilitiesFromMask('000001fffeffffff');
  t.ok(set.has('CAP_SYS_ADMIN'), 'bit 21 set');
  t.notOk(set.has('CAP_SYS_RESOURCE'), 'bit 24 clear');
  t.equal(set.size, ALL_CAPABILITIES.length - 1, 'all but one');
  t.equal(normalizeCapability('sys_admin'), 'CAP_SYS_ADMIN');
  t.equal(normalizeCapability('all'), 'ALL');
});
