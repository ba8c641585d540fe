// runc command lines (pure). Containers run in the foreground under the agent
// (`runc run`, `runc exec` without --detach): runc passes our pipes straight to
// the container process and exits with its status (128+N when killed by
// signal N), so the agent is the parent that reaps and reports every exit
// without needing PR_SET_CHILD_SUBREAPER.

export const runcArgs = {
  /**
   * `--pid-file`: runc writes the container's pid (by rename) once its process
   * runs; reading that file is what StartContainer waits for, where a `runc
   * state` per poll would start another Go binary (hundreds of ms under TCG).
   */
  run: (id: string, bundle: string, pidFile: string): string[] => ['run', '--bundle', bundle, '--pid-file', pidFile, id],
  /** `--pid-file`: the exec'd process's own pid, so that signals (SIGKILL above all) reach it and not only runc. */
  exec: (id: string, processFile: string, pidFile: string): string[] => ['exec', '--process', processFile, '--pid-file', pidFile, id],
  kill: (id: string, signal: number, all = false): string[] => ['kill', ...(all ? ['--all'] : []), id, String(signal)],
  delete: (id: string, force: boolean): string[] => ['delete', ...(force ? ['--force'] : []), id],
  state: (id: string): string[] => ['state', id],
  update: (id: string): string[] => ['update', '--resources', '-', id],
};

/** The pid from `runc state` output, or undefined if it is not a sane one. */
export function pidFromState(stateJson: string): number | undefined {
  try {
    const pid = (JSON.parse(stateJson) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid in a `--pid-file` runc wrote, or undefined if it is not there yet or not a sane one. */
export function pidFromFile(text: string): number | undefined {
  const t = text.trim();
  if (!/^[0-9]{1,10}$/.test(t)) return undefined;
  const pid = Number(t);
  return pid > 1 ? pid : undefined;
}
