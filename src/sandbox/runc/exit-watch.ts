// conmon writes `<exitDir>/<id>` when the process it watches (a container, or
// a pod's infra process) exits. Watching that directory (inotify) lets the
// runc controller report exits as they happen instead of waiting to be asked.
// Exits while the daemon was down are found by the status calls' refresh.

import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../log';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class ExitWatcher {
  private watcher: FSWatcher | undefined;

  constructor(
    private readonly dir: string,
    private readonly onExit: (id: string) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.watcher) return;
    mkdirSync(this.dir, { recursive: true });
    this.watcher = watch(this.dir, (_event, name) => {
      if (typeof name !== 'string' || !ID_RE.test(name)) return;
      // A throw here would be an uncaught exception in an fs.watch callback and end the daemon: log it, the next status call sees the exit.
      try {
        this.onExit(name);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, id: name }, 'handling an exit file failed; the exit is seen at the next status call');
      }
    });
    // Lost events only delay a report until the next status call: log, keep serving.
    this.watcher.on('error', (err) => this.log.warn({ err: err.message, dir: this.dir }, 'exit watcher failed; exits are seen at the next status call'));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
