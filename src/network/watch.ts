// The NetworkReady condition. kubelet keeps pods pending while the runtime
// says the network is not ready, and a node's CNI config usually appears
// after the runtime starts (the network daemonset writes it), so the dir is
// watched and re-scanned; fs.watch can miss events (dir replaced, not yet
// existing), hence also a slow periodic re-scan.

import { EventEmitter } from 'node:events';
import { type FSWatcher, mkdirSync, watch } from 'node:fs';
import type { Logger } from '../log';
import { loadCniConfig } from './cni-config';
import type { NetworkStatus } from './types';

export interface CniConfigWatcherOptions {
  confDir: string;
  logger: Logger;
  /** Re-scan period; fs.watch covers the common case. */
  rescanMs?: number;
}

export const NETWORK_NOT_READY_REASON = 'NetworkPluginNotReady';

/** Emits 'change' (NetworkStatus) whenever readiness or its message changes. */
export class CniConfigWatcher extends EventEmitter {
  private status: NetworkStatus;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: CniConfigWatcherOptions) {
    super();
    this.status = this.scan();
  }

  /** Current readiness (as of the last scan). */
  networkStatus(): NetworkStatus {
    return { ...this.status };
  }

  /** Scan now and update; returns the new status. */
  rescan(): NetworkStatus {
    const next = this.scan();
    const changed = next.ready !== this.status.ready || next.message !== this.status.message;
    this.status = next;
    if (changed) {
      this.opts.logger.info({ ready: next.ready, reason: next.reason, detail: next.message }, 'network readiness changed');
      this.emit('change', this.networkStatus());
    }
    return this.networkStatus();
  }

  start(): void {
    if (this.timer) return;
    try {
      // containerd creates the dir too: watching needs it to exist.
      mkdirSync(this.opts.confDir, { recursive: true, mode: 0o755 });
      this.watcher = watch(this.opts.confDir, { persistent: false }, () => this.rescan());
      this.watcher.on('error', (err) => {
        this.opts.logger.warn({ err: err.message }, 'watching CNI config dir failed; re-scanning periodically');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message, dir: this.opts.confDir }, 'cannot watch CNI config dir; re-scanning periodically');
    }
    this.timer = setInterval(() => this.rescan(), this.opts.rescanMs ?? 5000);
    this.timer.unref();
    this.rescan();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private scan(): NetworkStatus {
    const loaded = loadCniConfig(this.opts.confDir);
    if (loaded.ok) return { ready: true, reason: '', message: `using CNI config ${loaded.file} (network "${loaded.config.name}")` };
    // The reason kubelet and containerd use for this condition; the detail goes in the message.
    return { ready: false, reason: NETWORK_NOT_READY_REASON, message: `${loaded.reason}: ${loaded.message}` };
  }
}
