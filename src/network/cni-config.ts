// Finding and validating the CNI network configuration, as libcni does for
// kubelet's runtimes: files in `cni_conf_dir` ending in .conf, .conflist or
// .json, in lexical order; the first valid one wins. A single-plugin .conf
// (or .json) is wrapped into a one-plugin conflist.

import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { FailedPreconditionError } from '../../common/errors';
import type { CniConfList, CniPluginConf } from './types';

const CONF_EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

/** Candidate file names in the order libcni tries them. */
export function candidateFiles(names: string[]): string[] {
  return names.filter((n) => CONF_EXTENSIONS.has(extname(n)) && !n.startsWith('.')).sort();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(file: string, problem: string): FailedPreconditionError {
  return new FailedPreconditionError(`CNI config ${file}: ${problem}`);
}

function checkPlugin(file: string, where: string, p: unknown): CniPluginConf {
  if (!isObject(p)) throw invalid(file, `${where} is not an object`);
  if (typeof p.type !== 'string' || p.type === '') throw invalid(file, `${where}.type must be a non-empty string`);
  // The type names a binary in cni_bin_dirs; a path would escape them.
  if (p.type.includes('/') || p.type === '.' || p.type === '..') throw invalid(file, `${where}.type "${p.type}" must be a plain file name`);
  if (p.capabilities !== undefined && !isObject(p.capabilities)) throw invalid(file, `${where}.capabilities must be an object`);
  return p as CniPluginConf;
}

/** Parse and validate one file's text; `file` is used for the extension and in messages. */
export function parseCniConfig(file: string, text: string): CniConfList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw invalid(file, 'top level is not a JSON object');
  if (typeof raw.cniVersion !== 'string' || raw.cniVersion === '') throw invalid(file, 'cniVersion must be a non-empty string');
  if (typeof raw.name !== 'string' || raw.name === '') throw invalid(file, 'name must be a non-empty string');
  const isList = extname(file) === '.conflist' || raw.plugins !== undefined;
  if (!isList) {
    const { cniVersion, name } = raw;
    return { cniVersion, name, plugins: [checkPlugin(file, 'config', raw)] };
  }
  if (!Array.isArray(raw.plugins) || raw.plugins.length === 0) throw invalid(file, 'plugins must be a non-empty array');
  const plugins = raw.plugins.map((p, i) => checkPlugin(file, `plugins[${i}]`, p));
  if (raw.disableCheck !== undefined && typeof raw.disableCheck !== 'boolean') throw invalid(file, 'disableCheck must be a boolean');
  return { cniVersion: raw.cniVersion, name: raw.name, disableCheck: raw.disableCheck === true, plugins };
}

export type LoadedCniConfig = { ok: true; file: string; config: CniConfList } | { ok: false; reason: 'NoCNIConfig' | 'InvalidCNIConfig'; message: string };

/** The first valid config in `dir`, or why there is none. Reads the directory; no other effects. */
export function loadCniConfig(dir: string): LoadedCniConfig {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    return { ok: false, reason: 'NoCNIConfig', message: `cannot read CNI config dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const problems: string[] = [];
  for (const name of candidateFiles(names)) {
    const file = join(dir, name);
    try {
      return { ok: true, file, config: parseCniConfig(file, readFileSync(file, 'utf8')) };
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length === 0) return { ok: false, reason: 'NoCNIConfig', message: `no CNI network config (.conflist/.conf/.json) in ${dir}` };
  return { ok: false, reason: 'InvalidCNIConfig', message: problems.join('; ') };
}
