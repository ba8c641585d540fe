import t from 'tap';
import { summarizeProfile, type CpuProfile } from '../../../../bench/lib/cpuprofile';

// root → main → { start, list → serialize }, and a late stop.
const frame = (id: number, name: string, children: number[] = []) => ({ id, callFrame: { functionName: name, url: `/x/dist/src/${name}.js`, lineNumber: 0 }, children });
const profile: CpuProfile = {
  nodes: [frame(1, '(root)', [2]), frame(2, 'main', [3, 4, 6]), frame(3, 'startContainer'), frame(4, 'list', [5]), frame(5, 'serialize'), frame(6, 'stopPod')],
  // start, list, serialize, serialize, list, stop, list
  samples: [3, 4, 5, 5, 4, 6, 4],
  timeDeltas: [0, 1000, 2000, 3000, 3000, 2000, 1000, 5000],
};

t.test('self and inclusive time per function, a sample weighing the delta before the next', async (t) => {
  const s = summarizeProfile(profile);
  t.equal(s.windowMs, 17, 'every sample');
  t.same(Object.fromEntries(s.self), {
    'startContainer dist/src/startContainer.js:1': 1,
    'list dist/src/list.js:1': 2 + 2 + 5,
    'serialize dist/src/serialize.js:1': 6,
    'stopPod dist/src/stopPod.js:1': 1,
  });
  t.equal(Object.fromEntries(s.inclusive)['list dist/src/list.js:1'], 15, 'list includes its serialize');
  t.equal(s.inclusive[0][1], 17, 'the root holds everything, listed first');
});

t.test('a window (after the last `from`, before the next `to`) and an `only` filter', async (t) => {
  const s = summarizeProfile(profile, { from: /^startContainer/, to: /^stopPod/ });
  t.equal(s.windowMs, 2 + 3 + 3 + 2, 'list, serialize, serialize, list');
  t.notOk(
    s.self.some(([k]) => k.startsWith('stopPod') || k.startsWith('startContainer')),
    'neither edge is in the window',
  );
  const only = summarizeProfile(profile, { from: /^startContainer/, to: /^stopPod/, only: /^serialize/ });
  t.equal(only.keptMs, 6, 'only the serialize samples kept');
  t.equal(only.windowMs, 10, 'the window is still the whole of it');
});
