// The pod network manager: one per daemon. It owns each pod's netns pin,
// runs CNI ADD/CHECK/DEL with the config that was current at ADD time (kept
// in the CNI cache so DEL survives restarts and config changes), reports
// NetworkReady, and opens pod ports for PortForward.
//
// Per pod:  (none) ──setup──► netns pinned + cache{result:null} ──ADD ok──► cache{result}
//              ▲                       │ ADD failed: DEL, unpin, drop cache   │
//              └──────────── teardown (DEL with cached config, unpin, drop cache) ◄┘

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkConfig } from '../config/types';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { Logger } from '../log';
import { CniRunner } from './cni';
import { CniCache, type CniCacheEntry } from './cni-cache';
import { loadCniConfig } from './cni-config';
import { cniArgs, type CniInvocation, runtimeConfigFor } from './cni-invoke';
import { parseCniResult, podIpsFromResult } from './cni-result';
import { createNetns, deleteNetns, isMounted, netnsDir, netnsPath } from './netns';
import type { CniResult, NetworkStatus, PodIps, PodNetworkSpec } from './types';
import { CniConfigWatcher } from './watch';

export * from './types';
export { attachTap, createTap, detachTap, moveLink, readGuestNetwork, DEFAULT_TAP_NAME, type GuestNetwork, type GuestAddress, type GuestRoute } from './tap';
export { createNetns, deleteNetns, releasePinDir } from './netns';
export { connectLoopback, openNetnsPort } from './port-forward';
export { usernsPinPath } from './netns';
export { NETWORK_NOT_READY_REASON } from './watch';
export { podBandwidth, EGRESS_ANNOTATION, INGRESS_ANNOTATION } from './bandwidth';

/** The CNI interface name inside every pod. */
export const POD_IFNAME = 'eth0';

export interface PodNetworkOptions {
  config: NetworkConfig;
  /** Persistent root (config `root`): the CNI cache lives in `<root>/network`. */
  root: string;
  /** Runtime state dir (config `state`): netns pins live in `<state>/netns`. */
  state: string;
  logger: Logger;
  /** Run CNI plugins inside this netns instead of the daemon's (tests only). */
  hostNetns?: string;
}

export interface PodNetworkSetup {
  /** "" for hostNetwork pods. */
  netnsPath: string;
  ips: PodIps;
  /** Parsed CNI result; null for hostNetwork pods. */
  result: CniResult | null;
}

/** A pod's netns, made and pinned, before its CNI ADD (PodNetwork.prepare). */
export interface PreparedPodNetwork {
  /** "" for hostNetwork pods. */
  netnsPath: string;
  /** Runs CNI ADD in it; on failure undoes everything, as setup does. Call once. */
  attach(): Promise<PodNetworkSetup>;
}

const POD_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkPodId(id: string): void {
  // The id becomes a file name under state and root.
  if (!POD_ID_RE.test(id)) throw new InvalidArgumentError('pod sandbox id', `"${id}" is not a valid id`);
}

function readdirOr(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class PodNetwork {
  private readonly cache: CniCache;
  private readonly cni: CniRunner;
  private readonly watcher: CniConfigWatcher;
  private readonly log: Logger;
  private podCidr = '';

  constructor(private readonly opts: PodNetworkOptions) {
    this.log = opts.logger.child({ subsystem: 'cni' });
    this.cache = new CniCache(join(opts.root, 'network'));
    this.cni = new CniRunner({ binDirs: opts.config.cni_bin_dirs, timeoutMs: opts.config.plugin_timeout_s * 1000, logger: this.log, hostNetns: opts.hostNetns });
    this.watcher = new CniConfigWatcher({ confDir: opts.config.cni_conf_dir, logger: this.log });
  }

  /** Start watching the CNI conf dir (NetworkReady updates). */
  start(): void {
    this.watcher.start();
  }

  stop(): void {
    this.watcher.stop();
  }

  /** NetworkReady for the CRI Status call. */
  networkStatus(): NetworkStatus {
    return this.watcher.networkStatus();
  }

  /** Subscribe to NetworkReady changes. */
  onStatusChange(fn: (s: NetworkStatus) => void): void {
    this.watcher.on('change', fn);
  }

  /** UpdateRuntimeConfig: the node's pod CIDR, handed to plugins declaring the `ipRanges` capability. */
  setPodCidr(cidr: string): void {
    this.podCidr = cidr;
    this.log.info({ podCidr: cidr }, 'pod CIDR updated');
  }

  /** Where a pod's netns is (or would be) pinned. */
  netnsPathFor(podId: string): string {
    return netnsPath(this.opts.state, podId);
  }

  /**
   * Create the pod's netns and run CNI ADD. On any failure everything done
   * so far is undone (DEL, unpin) before the error is thrown.
   */
  async setup(pod: PodNetworkSpec): Promise<PodNetworkSetup> {
    return (await this.prepare(pod)).attach();
  }

  /**
   * setup in two stages, so that a pod's sandbox can be created while its
   * CNI ADD runs (RunPodSandbox of a runc pod): the netns, pinned, at once;
   * ADD when `attach` is called. A failed attach undoes everything as setup
   * does; a prepared pod that is never attached is undone by teardown.
   */
  async prepare(pod: PodNetworkSpec): Promise<PreparedPodNetwork> {
    checkPodId(pod.id);
    if (pod.hostNetwork) return { netnsPath: '', attach: async () => ({ netnsPath: '', ips: { ip: '', additionalIps: [] }, result: null }) };
    const loaded = loadCniConfig(this.opts.config.cni_conf_dir);
    if (!loaded.ok) throw new FailedPreconditionError(`pod ${pod.id}: network not ready: ${loaded.message}; add a CNI config to ${this.opts.config.cni_conf_dir}`);
    if (this.cache.load(pod.id)) throw new FailedPreconditionError(`pod ${pod.id}: network already set up; tear it down first`);

    const log = this.log.child({ podSandboxId: pod.id });
    const started = Date.now();
    const ns = this.netnsPathFor(pod.id);
    // A pin without a cache entry is left by a daemon killed between the two steps: start afresh.
    await deleteNetns(ns);
    await createNetns(ns, pod.userns);
    const entry: CniCacheEntry = {
      version: 1,
      podId: pod.id,
      netnsPath: ns,
      ifName: POD_IFNAME,
      args: cniArgs(pod),
      config: loaded.config,
      runtimeConfig: runtimeConfigFor(pod, this.podCidr),
      result: null,
    };
    const attach = async (): Promise<PodNetworkSetup> => {
      try {
        // Written before ADD: a daemon killed mid-ADD still knows what to DEL.
        this.cache.save(entry);
        const raw = await this.cni.add(entry.config, this.invocation(entry), entry.runtimeConfig);
        const result = parseCniResult(JSON.stringify(raw ?? {}));
        this.cache.save({ ...entry, result: raw });
        const ips = podIpsFromResult(result, POD_IFNAME);
        log.info({ network: entry.config.name, file: loaded.file, ip: ips.ip, additionalIps: ips.additionalIps, ms: Date.now() - started }, 'pod network set up');
        return { netnsPath: ns, ips, result };
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'pod network setup failed; undoing');
        await this.undoSetup(pod.id, log);
        throw err;
      }
    };
    return { netnsPath: ns, attach };
  }

  /**
   * Undo a setup that failed. Unlike teardown, a DEL that fails does not keep
   * the netns and cache entry: the pod never existed for the caller, so no
   * StopPodSandbox will come to retry it, and a DEL that failed here usually
   * fails for the same reason ADD did (the CRI fuzzer's port 0 made portmap
   * refuse both), so start-up reconciliation would retry it forever while the
   * pin stayed mounted. What the plugins keep on the host is named in the log.
   */
  private async undoSetup(podId: string, log: Logger): Promise<void> {
    try {
      await this.teardown(podId);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'CNI DEL failed while undoing a failed pod network setup; removing the netns anyway (host-side plugin state, e.g. an IPAM lease, may remain)');
      await deleteNetns(this.netnsPathFor(podId)).catch((e: unknown) => log.error({ err: (e as Error).message }, 'cannot unpin the netns of a failed pod network setup'));
      this.cache.remove(podId);
    }
  }

  /** CNI CHECK with the cached config and result. */
  async check(pod: Pick<PodNetworkSpec, 'id' | 'hostNetwork'>): Promise<void> {
    checkPodId(pod.id);
    if (pod.hostNetwork) return;
    const entry = this.cache.load(pod.id);
    if (!entry || entry.result === null) throw new NotFoundError('pod network', pod.id, 'no completed CNI ADD recorded');
    await this.cni.check(entry.config, this.invocation(entry), entry.runtimeConfig, entry.result);
  }

  /** The pod's IPs from the cache (PodSandboxStatus after a restart), empty when unknown. */
  podIps(podId: string): PodIps {
    checkPodId(podId);
    const entry = this.cache.load(podId);
    if (!entry || entry.result === null) return { ip: '', additionalIps: [] };
    return podIpsFromResult(parseCniResult(JSON.stringify(entry.result)), entry.ifName);
  }

  /**
   * CNI DEL (with what ADD used), then unpin the netns and drop the cache.
   * Idempotent: a pod with nothing left is a no-op. If DEL fails the netns
   * and cache stay, so that a retry (kubelet retries StopPodSandbox) can DEL again.
   */
  async teardown(podId: string): Promise<void> {
    checkPodId(podId);
    const entry = this.cache.load(podId);
    const ns = entry?.netnsPath ?? this.netnsPathFor(podId);
    if (entry) {
      // The spec asks for DEL even if the netns is gone; plugins then only release host-side state.
      // A pin file that is no longer a mount is gone too: a daemon killed between
      // the unmount and the rm left it, and plugins refuse it as a netns.
      const inv = { ...this.invocation(entry), netns: isMounted(entry.netnsPath) ? entry.netnsPath : '' };
      await this.cni.del(entry.config, inv, entry.runtimeConfig, entry.result ?? undefined);
      this.log.info({ podSandboxId: podId, network: entry.config.name }, 'pod network torn down');
    }
    await deleteNetns(ns);
    this.cache.remove(podId);
  }

  /** Pods with a cached CNI entry (to reconcile against the sandbox store at start-up). */
  cachedPods(): string[] {
    return this.cache.list();
  }

  /**
   * Start-up: tear down the network of every pod the sandbox store does not
   * know — cache entries (a daemon killed mid-RunPodSandbox or mid-Remove)
   * and stray netns pins. Assumes `known` holds every sandbox that should
   * keep its network. Returns the pod ids torn down; failures are logged and
   * left for the next start.
   */
  async reconcile(known: ReadonlySet<string>): Promise<string[]> {
    const pinned = readdirOr(netnsDir(this.opts.state)).filter((n) => POD_ID_RE.test(n));
    const orphans = [...new Set([...this.cache.list(), ...pinned])].filter((id) => POD_ID_RE.test(id) && !known.has(id));
    const done: string[] = [];
    for (const id of orphans) {
      try {
        await this.teardown(id);
        done.push(id);
      } catch (err) {
        this.log.error({ podSandboxId: id, err: (err as Error).message }, 'cannot tear down network of unknown pod; will retry at next start');
      }
    }
    if (done.length > 0) this.log.info({ pods: done }, 'tore down networks of pods unknown to the store');
    return done;
  }

  private invocation(entry: CniCacheEntry): CniInvocation {
    return { containerId: entry.podId, netns: entry.netnsPath, ifName: entry.ifName, args: entry.args };
  }
}
