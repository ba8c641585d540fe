// Running CNI plugins as the spec says: each plugin of the conflist in turn
// for ADD (each gets the previous one's result as prevResult) and CHECK, in
// reverse for DEL; every call bounded by a timeout; a failure names the
// plugin, the command and the plugin's own error.

import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { DeadlineExceededError, FailedPreconditionError, InternalError, isVmpodError } from '../../common/errors';
import type { Logger } from '../log';
import { type CniCommand, type CniInvocation, parsePluginError, pluginEnv, pluginStdin, versionAtLeast } from './cni-invoke';
import { run } from './run';
import type { CniConfList, CniPluginConf, CniRuntimeConfig } from './types';

export interface CniRunnerOptions {
  binDirs: string[];
  timeoutMs: number;
  logger: Logger;
  /**
   * Network namespace to run the plugins in. Production leaves it unset
   * (plugins run in the daemon's, i.e. the node's, namespace); tests set it
   * so that bridges and iptables rules land in a throw-away namespace.
   */
  hostNetns?: string;
}

export class CniRunner {
  constructor(private readonly opts: CniRunnerOptions) {}

  /** Absolute path of the plugin binary, searched in bin dirs order. */
  findPlugin(type: string): string {
    for (const dir of this.opts.binDirs) {
      const p = join(dir, type);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not in this dir
      }
    }
    throw new FailedPreconditionError(`CNI plugin "${type}" not found in ${this.opts.binDirs.join(', ')}: install it (Debian: containernetworking-plugins) or fix network.cni_bin_dirs`);
  }

  private async invoke(command: CniCommand, list: CniConfList, plugin: CniPluginConf, inv: CniInvocation, rc: CniRuntimeConfig, prevResult: unknown): Promise<unknown> {
    const bin = this.findPlugin(plugin.type);
    const stdin = JSON.stringify(pluginStdin(list, plugin, rc, prevResult));
    const started = Date.now();
    let r;
    try {
      r = await run([bin], { input: stdin, env: pluginEnv(command, inv, this.opts.binDirs), timeoutMs: this.opts.timeoutMs, netns: this.opts.hostNetns });
    } catch (err) {
      if (err instanceof DeadlineExceededError) {
        throw new DeadlineExceededError(`CNI plugin "${plugin.type}" ${command} for pod ${inv.containerId} did not answer within ${this.opts.timeoutMs} ms`);
      }
      throw err;
    }
    this.opts.logger.debug({ plugin: plugin.type, command, ms: Date.now() - started, code: r.code }, 'cni plugin call');
    if (r.code !== 0) {
      const e = parsePluginError(r.stdout, r.stderr);
      const code = e.code !== undefined ? ` (CNI error ${e.code})` : '';
      throw new InternalError(`CNI plugin "${plugin.type}" ${command} for pod ${inv.containerId} failed${code}: ${e.msg}${e.details ? `: ${e.details}` : ''}`);
    }
    if (command !== 'ADD') return undefined;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      throw new InternalError(`CNI plugin "${plugin.type}" ADD for pod ${inv.containerId} printed no JSON result: ${r.stdout.slice(0, 200)}`);
    }
  }

  /** ADD through the whole list; resolves with the last plugin's raw result. */
  async add(list: CniConfList, inv: CniInvocation, rc: CniRuntimeConfig): Promise<unknown> {
    let prev: unknown = undefined;
    for (const plugin of list.plugins) prev = await this.invoke('ADD', list, plugin, inv, rc, prev);
    return prev;
  }

  /**
   * DEL in reverse order. Every plugin is asked even when one fails (so a
   * retry has as little left to do as possible); the first error is thrown
   * at the end. Since 0.4.0 each plugin gets the cached ADD result.
   */
  async del(list: CniConfList, inv: CniInvocation, rc: CniRuntimeConfig, cachedResult: unknown): Promise<void> {
    const prev = versionAtLeast(list.cniVersion, '0.4.0') ? cachedResult : undefined;
    const failures: unknown[] = [];
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.invoke('DEL', list, plugin, inv, rc, prev);
      } catch (err) {
        this.opts.logger.warn({ plugin: plugin.type, err: isVmpodError(err) ? err.message : String(err) }, 'cni DEL failed');
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  }

  /** CHECK (0.4.0+, unless the list disables it); older versions have no CHECK and pass. */
  async check(list: CniConfList, inv: CniInvocation, rc: CniRuntimeConfig, cachedResult: unknown): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '0.4.0') || list.disableCheck) return;
    for (const plugin of list.plugins) await this.invoke('CHECK', list, plugin, inv, rc, cachedResult);
  }
}
