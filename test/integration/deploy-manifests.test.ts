// Every manifest under deploy/ is checked offline by kubectl, then for what
// vmpod relies on. kubectl cannot validate against the API schema without an
// API server (validation downloads the server's OpenAPI; apply and create
// need its discovery for REST mapping), so what kubectl checks here is what it
// can check alone: `kubectl annotate --local -f FILE --dry-run=client -o json`
// with no kubeconfig parses every document (YAML syntax, apiVersion and kind
// present, metadata decodes). Field names and types are checked by this test,
// for the fields vmpod depends on: the RuntimeClass handler is a configured
// VM handler, its overhead quantities parse, its nodeSelector is a label
// `vmpod check --node-labels` writes; the DaemonSet's selector matches its
// pod template, and the pod runs install.sh with --uninstall in preStop,
// privileged, with hostPID and the node's / at HOST_ROOT.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { nodeLabelLines } from '../../src/cli/node-labels';
import { defaultConfig } from '../../src/config/defaults';
import { projectRoot } from '../../src/paths';

const ROOT = projectRoot();
const DEPLOY = join(ROOT, 'deploy');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** The DaemonSet fields this test reads (optional where a broken manifest could lack them). */
interface DaemonSet extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        hostPID?: boolean;
        containers: Array<{
          name: string;
          image: string;
          command?: string[];
          env?: Array<{ name: string; value: string }>;
          securityContext?: { privileged?: boolean };
          volumeMounts?: Array<{ name: string; mountPath: string }>;
          lifecycle?: { preStop?: { exec?: { command?: string[] } } };
        }>;
        volumes?: Array<{ name: string; hostPath?: { path: string } }>;
      };
    };
  };
}

function manifests(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((e) => (statSync(join(dir, e)).isDirectory() ? manifests(join(dir, e)) : /\.ya?ml$/.test(e) ? [join(dir, e)] : []))
    .sort();
}

/** kubectl's offline decode of one file: its objects, or its error. */
function kubectlDecode(file: string): { ok: true; objects: K8sObject[] } | { ok: false; error: string } {
  const r = spawnSync('kubectl', ['annotate', '--local', '-f', file, 'vmpod.io/validated=true', '--dry-run=client', '-o', 'json'], {
    encoding: 'utf8',
    timeout: 60_000,
    // No kubeconfig: nothing here may reach a cluster.
    env: { ...process.env, KUBECONFIG: '/dev/null' },
  });
  if (r.status !== 0) return { ok: false, error: `${r.stderr}${r.error?.message ?? ''}`.trim() };
  // One pretty-printed object per document, each starting with "{" on a line of its own (or one List).
  const docs = r.stdout
    .split(/^(?=\{$)/m)
    .filter((d) => d.trim() !== '')
    .map((d) => JSON.parse(d) as K8sObject & { items?: K8sObject[] });
  return { ok: true, objects: docs.flatMap((o) => (o.kind === 'List' && o.items ? o.items : [o])) };
}

const haveKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 }).status === 0;
const NO_KUBECTL = 'kubectl not found on PATH (scripts/setup installs Debian kubernetes-client): the deploy/ manifests are NOT validated';
if (!haveKubectl) process.stderr.write(`\n*** ${NO_KUBECTL} ***\n\n`);

// A Kubernetes quantity (resource.Quantity): a number and an optional suffix.
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;

t.test('kubectl decodes every manifest under deploy/', { skip: haveKubectl ? false : NO_KUBECTL }, async (t) => {
  const files = manifests(DEPLOY);
  t.ok(files.length >= 2, `manifests found: ${files.map((f) => relative(ROOT, f)).join(', ')}`);
  for (const f of files) {
    const r = kubectlDecode(f);
    t.ok(r.ok, `kubectl accepts ${relative(ROOT, f)}${r.ok ? '' : `: ${r.error}`}`);
    if (!r.ok) continue;
    for (const o of r.objects) t.ok(o.apiVersion && o.kind && o.metadata?.name, `${relative(ROOT, f)}: ${o.kind}/${o.metadata?.name} has apiVersion, kind and a name`);
  }
});

t.test('the offline check refuses what it should (so a pass above means something)', { skip: haveKubectl ? false : NO_KUBECTL }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-manifest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = {
    'bad-yaml.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n   oops: [\n',
    'no-kind.yaml': 'apiVersion: v1\nmetadata:\n  name: x\n',
  };
  for (const [name, text] of Object.entries(broken)) {
    writeFileSync(join(dir, name), text);
    t.notOk(kubectlDecode(join(dir, name)).ok, `${name} is refused`);
  }
});

t.test('RuntimeClasses: a configured VM handler, overhead that parses, a nodeSelector vmpod check writes', { skip: haveKubectl ? false : NO_KUBECTL }, async (t) => {
  const r = kubectlDecode(join(DEPLOY, 'runtimeclasses.yaml'));
  if (!r.ok) {
    t.fail(`deploy/runtimeclasses.yaml: ${r.error}`);
    return;
  }
  const cfg = defaultConfig();
  const vmHandlers = Object.keys(cfg.runtime.handlers).filter((h) => h !== cfg.runtime.default_handler);
  const written = nodeLabelLines({ handlers: Object.keys(cfg.runtime.handlers), capabilities: [], version: '0.0.0' }).map((l) => l.split('=')[0]);
  const classes = r.objects.filter((o) => o.kind === 'RuntimeClass');
  t.same(classes.map((c) => c.handler).sort(), vmHandlers.sort(), 'one RuntimeClass per VM handler of the default config');
  for (const c of classes) {
    t.equal(c.apiVersion, 'node.k8s.io/v1', `${c.metadata.name}: node.k8s.io/v1`);
    t.match(c.handler, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${c.metadata.name}: handler is a DNS label`);
    const podFixed = (c.overhead as { podFixed?: Record<string, string> } | undefined)?.podFixed ?? {};
    t.same(Object.keys(podFixed).sort(), ['cpu', 'memory'], `${c.metadata.name}: overhead.podFixed has cpu and memory`);
    for (const [k, v] of Object.entries(podFixed)) t.match(String(v), QUANTITY, `${c.metadata.name}: overhead ${k} ${v} is a quantity`);
    const sel = (c.scheduling as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
    const key = `vmpod.io/handler.${String(c.handler)}`;
    t.same(sel, { [key]: 'true' }, `${c.metadata.name}: scheduled only where ${key}=true`);
    t.ok(written.includes(key), `${key} is a label vmpod check --node-labels writes`);
  }
});

t.test('installer DaemonSet: selector matches, privileged, hostPID, / at HOST_ROOT, uninstall in preStop', { skip: haveKubectl ? false : NO_KUBECTL }, async (t) => {
  const r = kubectlDecode(join(DEPLOY, 'installer', 'daemonset.yaml'));
  if (!r.ok) {
    t.fail(`deploy/installer/daemonset.yaml: ${r.error}`);
    return;
  }
  t.same(
    r.objects.map((o) => o.kind),
    ['Namespace', 'ServiceAccount', 'DaemonSet'],
  );
  const ns = r.objects[0].metadata.name;
  for (const o of r.objects.slice(1)) t.equal(o.metadata.namespace, ns, `${o.kind} in ${ns}`);
  const ds = r.objects[2] as DaemonSet;
  t.equal(ds.apiVersion, 'apps/v1');
  const tpl = ds.spec.template;
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) t.equal(tpl.metadata.labels[k], v, `selector ${k}=${v} matches the pod template`);
  t.equal(tpl.spec.serviceAccountName, r.objects[1].metadata.name);
  t.equal(tpl.spec.hostPID, true, 'hostPID: install.sh reaches the host systemd through PID 1');
  const [c] = tpl.spec.containers;
  t.ok(c.name && c.image, 'the container has a name and an image');
  t.equal(c.securityContext?.privileged, true);
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === env.HOST_ROOT);
  t.ok(mount, `something is mounted at HOST_ROOT ${env.HOST_ROOT}`);
  const vol = (tpl.spec.volumes ?? []).find((v) => v.name === mount?.name);
  t.equal(vol?.hostPath?.path, '/', "HOST_ROOT is the node's /");
  t.match((c.command ?? []).join(' '), /installer\/install\.sh/, 'the container runs install.sh');
  const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
  t.same(preStop.slice(-1), ['--uninstall'], 'deleting the pod uninstalls');
  t.match(preStop[0], /installer\/install\.sh$/);
});
