// The CRI fuzzer's request generator (test/fault/fuzz/generate.ts), without a
// daemon: the same seed gives the same requests, every method of both
// services is called, the shapes it promises show up, every request goes
// through the very serializer grpc-js uses, valid-by-construction requests
// pass the daemon's validation, and no host path escapes the run's
// directories.

import t from 'tap';
import { absoluteDir, validateContainerConfig, validatePodConfig } from '../../../src/cri/validate-config';
import { criPackageDefinition, IMAGE_SERVICE_NAME, IMAGE_SERVICE_RPCS, RUNTIME_SERVICE_NAME, RUNTIME_SERVICE_RPCS, SERVER_STREAMING_RPCS } from '../../../src/cri/proto';
import { validateResources } from '../../../src/cri/validate-resources';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { asksForVm, criMethods, RequestGenerator, type FuzzContext, type GeneratedCall } from '../../fault/fuzz/generate';
import { Rng } from '../../fault/fuzz/rng';

const POD_ID = 'a'.repeat(64);
const CTR_ID = 'b'.repeat(64);
const LOG_DIR = '/tmp/fuzz-unit/logs';
const SCRATCH = '/tmp/fuzz-unit/scratch';

function ctx(over: Partial<FuzzContext> = {}): FuzzContext {
  return {
    handler: 'runc',
    image: 'registry.k8s.io/e2e-test-images/busybox:1.29-2',
    logDir: LOG_DIR,
    scratchDir: SCRATCH,
    pods: [{ id: POD_ID, config: { metadata: { name: 'p', namespace: 'fuzz', uid: 'u' } } }],
    containers: [CTR_ID],
    vm: { valid: false, random: false },
    ...over,
  };
}

function draw(seed: number, n: number, c: FuzzContext = ctx()): GeneratedCall[] {
  const g = new RequestGenerator(seed);
  return Array.from({ length: n }, () => g.next(c));
}

/** Every leaf of a request with the field it sits in. */
function leaves(v: unknown, field = '', out: { field: string; value: unknown }[] = []): { field: string; value: unknown }[] {
  if (Buffer.isBuffer(v)) out.push({ field, value: v });
  else if (Array.isArray(v)) for (const x of v) leaves(x, field, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, k, out);
  else out.push({ field, value: v });
  return out;
}

function depth(v: unknown): number {
  if (!v || typeof v !== 'object' || Buffer.isBuffer(v)) return 0;
  return 1 + Math.max(0, ...Object.values(v).map(depth));
}

/** The (de)serializers grpc-js uses for this method, from the daemon's own package definition. */
function codec(c: GeneratedCall): { serialize: (v: unknown) => Buffer; deserialize: (b: Buffer) => unknown } {
  const svc = criPackageDefinition()[c.service === 'runtime' ? RUNTIME_SERVICE_NAME : IMAGE_SERVICE_NAME] as unknown as Record<
    string,
    { requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown }
  >;
  return { serialize: svc[c.name].requestSerialize, deserialize: svc[c.name].requestDeserialize };
}

const SAMPLE = draw(1, 3000);

t.test('the rng is deterministic and spreads', async (t) => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 100 }, () => a.int(1000));
  t.same(
    Array.from({ length: 100 }, () => b.int(1000)),
    xs,
    'same seed, same numbers',
  );
  t.ok(new Set(xs).size > 80, 'not stuck on a few values');
});

t.test('the same seed gives the same calls; another seed other calls', async (t) => {
  t.same(draw(7, 300), draw(7, 300), 'seed 7 twice');
  t.notSame(
    draw(8, 50).map((c) => c.name),
    draw(7, 50).map((c) => c.name),
    'seed 8 differs',
  );
});

t.test('the methods are exactly both services of the proto, streams marked', async (t) => {
  const ms = criMethods();
  t.same(
    ms.filter((m) => m.service === 'runtime').map((m) => m.name),
    [...RUNTIME_SERVICE_RPCS],
    'RuntimeService',
  );
  t.same(
    ms.filter((m) => m.service === 'image').map((m) => m.name),
    [...IMAGE_SERVICE_RPCS],
    'ImageService',
  );
  t.same(
    ms
      .filter((m) => m.stream)
      .map((m) => m.name)
      .sort(),
    [...SERVER_STREAMING_RPCS].sort(),
    'server streams',
  );
});

t.test('every method is called, some with requests built valid', async (t) => {
  const called = new Set(SAMPLE.map((c) => c.name));
  for (const m of criMethods()) t.ok(called.has(m.name), `${m.name} called`);
  for (const m of ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'ExecSync', 'UpdateContainerResources', 'RemovePodSandbox'])
    t.ok(
      SAMPLE.some((c) => c.name === m && c.valid),
      `${m} sometimes valid`,
    );
});

t.test('the shapes show up', async (t) => {
  const all = SAMPLE.flatMap((c) => leaves(c.request));
  const strings = all.map((l) => l.value).filter((v): v is string => typeof v === 'string');
  const numbers = all.map((l) => l.value).filter((v) => typeof v === 'number');
  const checks: [string, (s: string) => boolean][] = [
    ['empty', (s) => s === ''],
    ['very long (> 4096)', (s) => s.length > 4096],
    ['control characters', (s) => [...s].some((ch) => (ch < ' ' && !'\0\t\n\r'.includes(ch)) || ch === '\x7f')],
    ['newline', (s) => s.includes('\n')],
    ['..', (s) => s.split('/').includes('..')],
    ['/', (s) => s.startsWith('/')],
    [';IP=', (s) => s.includes(';IP=')],
    ['non-ASCII', (s) => [...s].some((ch) => ch > '\x7f')],
    ['NUL', (s) => s.includes('\0')],
    ['max int64', (s) => s === '9223372036854775807'],
    ['min int64', (s) => s === '-9223372036854775808'],
    ['max uint64', (s) => s === '18446744073709551615'],
    ['a pod id the daemon returned', (s) => s === POD_ID],
    ['a container id the daemon returned', (s) => s === CTR_ID],
    ['an enum value name', (s) => s === 'SANDBOX_READY' || s === 'CONTAINER_RUNNING'],
  ];
  for (const [what, pred] of checks) t.ok(strings.some(pred), what);
  t.ok(numbers.includes(-1), 'int -1');
  t.ok(numbers.includes(2147483647), 'max int32');
  t.ok(numbers.includes(4294967295), 'max uint32');
  t.ok(numbers.includes(99), 'an enum number the enum does not define');
  t.ok(
    numbers.every((n) => Number.isFinite(n)),
    'no NaN or infinity',
  );
  t.ok(
    SAMPLE.some((c) => depth(c.request) >= 4),
    'nested messages, 4 deep',
  );
  t.ok(
    SAMPLE.some((c) => Object.values(c.request).some((v) => Array.isArray(v) && v.length > 1)),
    'repeated fields with several entries',
  );
  const labelMaps = SAMPLE.map((c) => (c.request.config as { labels?: Record<string, string> } | undefined)?.labels).filter((m) => m !== undefined);
  t.ok(
    labelMaps.some((m) => Object.keys(m).length > 1),
    'maps with several keys',
  );
});

t.test('every request goes through the serializer grpc-js uses, and decodes', async (t) => {
  let bad = 0;
  for (const c of SAMPLE) {
    const { serialize, deserialize } = codec(c);
    try {
      deserialize(serialize(c.request));
    } catch (err) {
      if (bad++ < 5) t.fail(`${c.name}: ${(err as Error).message}`);
    }
  }
  t.equal(bad, 0, `all ${SAMPLE.length} requests encode`);
});

t.test('requests built valid pass the daemon validation, after the wire', async (t) => {
  const c = ctx({ handler: 'vm', vm: { valid: true, random: false } });
  const calls = draw(3, 3000, c).filter((x) => x.valid);
  let pods = 0;
  let ctrs = 0;
  let updates = 0;
  for (const x of calls) {
    const req = codec(x).deserialize(codec(x).serialize(x.request)) as { config: unknown };
    if (x.name === 'RunPodSandbox') {
      pods++;
      t.doesNotThrow(() => validatePodConfig(req.config as PodSandboxConfig__Output), 'a valid pod config');
      t.ok(asksForVm(x.request), 'a VM pod when the context allows one');
      t.ok(String((x.request.config as { log_directory: string }).log_directory).startsWith(`${LOG_DIR}/`), 'its log directory under the run');
    }
    if (x.name === 'UpdateContainerResources') {
      updates++;
      t.doesNotThrow(() => validateResources((req as unknown as { linux: LinuxContainerResources__Output }).linux, 'linux'), 'valid resources');
    }
    if (x.name === 'CreateContainer') {
      ctrs++;
      t.doesNotThrow(() => validateContainerConfig(req.config as ContainerConfig__Output), 'a valid container config');
      t.equal((x.request as { pod_sandbox_id: string }).pod_sandbox_id, POD_ID, 'in a pod the daemon returned');
    }
  }
  t.ok(pods > 0 && ctrs > 0 && updates > 0, `some of each (${pods} pods, ${ctrs} containers, ${updates} resource updates)`);
});

t.test('no VM pod is asked for unless the context allows it', async (t) => {
  const runp = draw(5, 4000, ctx({ handler: 'vm' })).filter((c) => c.name === 'RunPodSandbox');
  t.ok(runp.length > 50, `${runp.length} RunPodSandbox calls`);
  t.equal(runp.filter((c) => asksForVm(c.request)).length, 0, 'none routed to the VM handler');
  const randomAllowed = draw(5, 4000, ctx({ handler: 'vm', vm: { valid: false, random: true } })).filter((c) => c.name === 'RunPodSandbox' && asksForVm(c.request));
  t.ok(randomAllowed.length > 0, 'random ones may name it when allowed');
  t.ok(
    randomAllowed.every((c) => !c.valid),
    'but no valid one then',
  );
});

t.test('host paths stay under the run, or are shapes validation refuses', async (t) => {
  const paths = SAMPLE.flatMap((c) => leaves(c.request)).filter((l) => ['host_path', 'log_directory', 'cgroup_parent', 'seccomp_profile_path', 'localhost_ref', 'location'].includes(l.field));
  t.ok(paths.length > 100, `${paths.length} host paths`);
  const outside: string[] = [];
  const climbing: string[] = [];
  for (const { field, value } of paths) {
    const v = String(value);
    if (v === '' || v.includes('\0')) continue;
    if (!(v.startsWith(`${SCRATCH}/`) || v === SCRATCH || v.startsWith(`${LOG_DIR}/`))) outside.push(`${field}=${v.slice(0, 100)}`);
    if (v.split('/').includes('..')) climbing.push(`${field}=${v}`);
  }
  t.same(outside, [], 'none outside the run');
  t.ok(climbing.length > 0, "some climb with '..'");
  t.same(
    climbing.filter((c) => !c.startsWith('log_directory=')),
    [],
    "only log directories climb with '..'",
  );
  t.same(
    climbing.filter((c) => {
      try {
        absoluteDir(c.slice('log_directory='.length), 'log_directory');
        return true;
      } catch {
        return false;
      }
    }),
    [],
    'and validation refuses each',
  );
});
