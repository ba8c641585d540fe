// The ecosystem's own CRI clients, used in place from ../shared/critest
// (crictl and critest v1.26.1 and the scripts that prepare what critest
// needs: netns "critest", docker-registry on its loopback, image stand-ins).
// Nothing here is copied into the repository; a machine without that
// directory skips these stages, naming what is missing.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../src/paths';

export const CRITEST_DIR = process.env.VMPOD_CRITEST_DIR ?? resolve(projectRoot(), '..', 'shared', 'critest');
export const CRICTL = join(CRITEST_DIR, 'bin', 'crictl');
export const CRITEST = join(CRITEST_DIR, 'bin', 'critest');
/** The network namespace the shared scripts create; the registry listens on its 127.0.0.1:5000. */
export const CRITEST_NETNS = '/run/netns/critest';
export const CRITEST_REGISTRY = '127.0.0.1:5000';

/** What a stage needs from ../shared/critest, or undefined when all of it is there. */
export function sharedCritestMissing(parts: readonly string[] = ['bin/crictl', 'bin/critest', 'setup-images.sh', 'run-critest.sh', 'teardown.sh', 'cni/10-critest.conflist']): string | undefined {
  if (!existsSync(CRITEST_DIR)) return `${CRITEST_DIR} does not exist (the shared critest/crictl tooling sits beside the checkout as ../shared/critest)`;
  const absent = parts.filter((p) => !existsSync(join(CRITEST_DIR, p)));
  return absent.length ? `${CRITEST_DIR} lacks ${absent.join(', ')}` : undefined;
}

/** The handlers critest can run against: runc, vm, vm-pool (VM_POOL_HANDLER) and vm-template (VM_TEMPLATE_HANDLER). */
export const CRITEST_HANDLERS = ['runc', 'vm', 'vm-pool', 'vm-template'];

/**
 * Every pod in a VM handed out of a pool of pre-booted VMs (issue 17): what
 * holds for a cold VM pod must hold for a pooled one. Only in the config of
 * the daemon critest runs against with --runtime-handler=vm-pool: a pool
 * boots its VM as the daemon starts, which every other test would pay for.
 */
export const VM_POOL_HANDLER = `[runtime.handlers.vm-pool]\ntype = "microvm"\npool_size = 1`;

/**
 * Every pod in a VM restored from the handler's template and handed out of
 * a pool of one (issue 17): the pool's hand-out and the template's restore
 * both, so what holds for a cold VM pod must hold here. Only in the config
 * of the daemon critest runs against with --runtime-handler=vm-template.
 */
export const VM_TEMPLATE_HANDLER = `[runtime.handlers.vm-template]\ntype = "microvm"\npool_size = 1\ntemplate = true`;

/** The daemon config for critest against `handler`. */
export function critestConfigFor(handler: string): string {
  if (handler === 'vm-pool') return critestDaemonConfig([VM_POOL_HANDLER]);
  if (handler === 'vm-template') return critestDaemonConfig([VM_TEMPLATE_HANDLER]);
  return critestDaemonConfig([]);
}

/**
 * The handlers the conformance stage runs: runc, vm (cold VM pods) and
 * vm-template (every pod handed a VM of a pool, restored from a template:
 * what holds for a cold VM pod must hold there), or those named in
 * VMPOD_CRITEST_HANDLERS (comma-separated). vm-pool is the pool alone,
 * whose hand-out vm-template runs too. Under TCG the VM runs take about 8
 * and 6 minutes (docs/conformance.md).
 */
export function critestHandlers(env: string | undefined): string[] {
  const hs = (env ?? 'runc,vm,vm-template').split(',').map((h) => h.trim());
  const unknown = hs.filter((h) => !CRITEST_HANDLERS.includes(h));
  if (unknown.length || hs.length === 0) throw new Error(`VMPOD_CRITEST_HANDLERS: want some of ${CRITEST_HANDLERS.join(', ')}, got "${env}"`);
  return hs;
}

/**
 * vmpod config that serves critest's image names from the shared registry, as
 * containerd's hosts.toml files in the shared containerd-up.sh do: every name
 * critest uses resolves to the same path on 127.0.0.1:5000, never upstream.
 */
export function critestDaemonConfig(extra: string[] = []): string {
  return [
    ...['registry.k8s.io', 'gcr.io'].map((h) => `[registries."${h}"]\nmirrors = ["${CRITEST_REGISTRY}"]`),
    `[registries."${CRITEST_REGISTRY}"]\ninsecure = true`,
    `[network]\ncni_conf_dir = "${join(CRITEST_DIR, 'cni')}"`,
    ...extra,
  ].join('\n');
}

export type SpecStatus = 'passed' | 'failed' | 'skipped' | 'pending' | 'panicked' | 'timedout' | 'interrupted' | 'aborted';

/** run-critest.sh's specs.txt: one "status<TAB>[It] name" line per spec. Only [It] specs count. */
export function parseSpecs(text: string): Map<string, SpecStatus> {
  const out = new Map<string, SpecStatus>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const name = line.slice(tab + 1);
    if (!name.startsWith('[It] ')) continue;
    const status = line.slice(0, tab) as SpecStatus;
    // A name can appear twice (ginkgo tables); a failure of either counts.
    if (out.get(name.slice(5)) !== 'failed') out.set(name.slice(5), status);
  }
  return out;
}

export interface KnownFailure {
  handlers: string[];
  spec: string;
  reason: string;
}

/** test/conformance/known-failures.txt: "<handlers,…>|<spec>|<why it cannot pass here>" per line, # comments. */
export function parseKnownFailures(text: string): KnownFailure[] {
  const out: KnownFailure[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [handlers, spec, reason] = line.split('|').map((s) => s.trim());
    if (!handlers || !spec || !reason) throw new Error(`known-failures.txt line ${i + 1}: want "<handlers>|<spec>|<reason>", got "${line}"`);
    out.push({ handlers: handlers.split(',').map((h) => h.trim()), spec, reason });
  });
  return out;
}

export function readKnownFailures(): KnownFailure[] {
  return parseKnownFailures(readFileSync(join(projectRoot(), 'test', 'conformance', 'known-failures.txt'), 'utf8'));
}

export interface Verdict {
  passed: number;
  /** Failed and not on the list: each one is a bug. */
  unexpected: string[];
  /** Failed and on the list, with the list's reason. */
  known: KnownFailure[];
  /** On the list for this handler but passed: the list is stale. */
  stale: KnownFailure[];
  /** On the list for this handler but critest never ran it (renamed or removed spec). */
  missing: KnownFailure[];
}

const FAILED: ReadonlySet<SpecStatus> = new Set(['failed', 'panicked', 'timedout', 'interrupted', 'aborted']);

export function judge(specs: ReadonlyMap<string, SpecStatus>, known: readonly KnownFailure[], handler: string): Verdict {
  const mine = known.filter((k) => k.handlers.includes(handler));
  const byName = new Map(mine.map((k) => [k.spec, k]));
  const v: Verdict = { passed: 0, unexpected: [], known: [], stale: [], missing: [] };
  for (const [name, status] of specs) {
    if (status === 'passed') v.passed++;
    const k = byName.get(name);
    if (FAILED.has(status)) {
      if (k) v.known.push(k);
      else v.unexpected.push(name);
    } else if (status === 'passed' && k) {
      v.stale.push(k);
    }
  }
  v.missing = mine.filter((k) => !specs.has(k.spec));
  return v;
}
