// A stack of undo steps for a benchmark run. Steps run last-in first-out,
// once, whether the bench ends normally, throws, or is interrupted (SIGINT,
// SIGTERM, SIGHUP, or its output's reader gone: `bench | head`): a bench that
// leaves daemons, mounts or temp dirs behind poisons the next measurement on
// a shared machine.

export interface CleanupStep {
  what: string;
  fn: () => unknown;
}

export class Cleanup {
  private readonly steps: CleanupStep[] = [];
  private running: Promise<string[]> | undefined;

  /** Registers an undo step; `what` names it in the error report if it fails. */
  add(what: string, fn: () => unknown): void {
    if (this.running) throw new Error(`cleanup already running; cannot add "${what}"`);
    this.steps.push({ what, fn });
  }

  /** The `t.teardown` shape that test helpers (test/helpers/daemon.ts) expect. */
  teardown(fn: () => unknown): void {
    this.add('test helper teardown', fn);
  }

  /** True once cleanup began (e.g. on Ctrl-C): a bench should stop measuring and print nothing more. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Runs every step (later ones first); resolves with the failures, described. Idempotent. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      while (this.steps.length) {
        const step = this.steps.pop()!;
        try {
          await step.fn();
        } catch (err) {
          failures.push(`${step.what}: ${(err as Error).message ?? String(err)}`);
        }
      }
      return failures;
    })();
    return this.running;
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** The exit status is 128 + this, as a shell reports a process a signal ended. */
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGPIPE: 13, SIGTERM: 15 };

/**
 * Runs `main` with `cleanup` guaranteed afterwards; on a signal the cleanup
 * runs and the process exits 128+signo (a second signal exits at once).
 * Resolves with the exit code to use.
 */
export async function runWithCleanup(cleanup: Cleanup, main: () => Promise<void>): Promise<number> {
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write(`bench: second ${sig} during cleanup; exiting now\n`);
      process.exit(130);
    }
    interrupted = sig;
    process.stderr.write(`bench: ${sig}: cleaning up...\n`);
    void finish(1).then((code) => process.exit(code));
  };
  // Node ignores SIGPIPE: a write to a pipe nobody reads fails with EPIPE, an
  // 'error' event that would end the process without its cleanup (the VMs,
  // registry and netns of a `bench | head` stayed behind). Stop as a shell
  // pipeline would, after cleaning up; later EPIPEs (the messages above, on
  // a stderr that is gone too) change nothing.
  const onOutputError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (!interrupted) onSignal('SIGPIPE');
  };
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  const finish = async (code: number): Promise<number> => {
    const failures = await cleanup.run();
    for (const f of failures) process.stderr.write(`bench: cleanup step failed: ${f}\n`);
    for (const s of SIGNALS) process.off(s, onSignal);
    if (interrupted) return 128 + (SIGNAL_NUMBERS[interrupted] ?? 1);
    return failures.length ? Math.max(code, 1) : code;
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    await main();
    return await finish(0);
  } catch (err) {
    // After a signal, calls fail because cleanup is closing things under them: not worth a stack trace.
    if (!interrupted) process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    return finish(1);
  }
}
