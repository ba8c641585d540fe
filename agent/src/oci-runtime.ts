// Command lines of the guest's OCI runtime, crun (pure). Containers run in
// the foreground under the agent (`crun run`, `crun exec` without --detach):
// crun passes our pipes straight to the container process and exits with its
// status (128+N when killed by signal N), forwarding every signal it receives
// but SIGKILL, so the agent is the parent that reaps and reports every exit
// without needing PR_SET_CHILD_SUBREAPER. crun rather than runc: runc is Go,
// and `runc run` (runc plus `runc init`) cost ~2 s of guest CPU per container
// start under TCG (docs/performance.md).

export const ociRuntimeArgs = {
  /**
   * `--pid-file`: crun writes the container's pid once its process runs;
   * reading that file is what StartContainer waits for, where a `state` per
   * poll would start another runtime process.
   */
  run: (id: string, bundle: string, pidFile: string): string[] => ['run', '--bundle', bundle, '--pid-file', pidFile, id],
  /** `--pid-file`: the exec'd process's own pid, so that signals (SIGKILL above all) reach it and not only crun. */
  exec: (id: string, processFile: string, pidFile: string): string[] => ['exec', '--process', processFile, '--pid-file', pidFile, id],
  kill: (id: string, signal: number, all = false): string[] => ['kill', ...(all ? ['--all'] : []), id, String(signal)],
  delete: (id: string, force: boolean): string[] => ['delete', ...(force ? ['--force'] : []), id],
  state: (id: string): string[] => ['state', id],
  /**
   * From a file, not stdin: crun reads `--resources -` by opening
   * /dev/stdin, which fails (ENXIO) when stdin is a socket, as Node's child
   * stdio pipes are.
   */
  update: (id: string, resourcesFile: string): string[] => ['update', '--resources', resourcesFile, id],
};

/** The pid from `state` output, or undefined if it is not a sane one. */
export function pidFromState(stateJson: string): number | undefined {
  try {
    const pid = (JSON.parse(stateJson) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid in a `--pid-file` the runtime wrote, or undefined if it is not
 * there yet or not a sane one. crun writes the file in place (create,
 * truncate, one write), so a read may find it empty, never half-written.
 */
export function pidFromFile(text: string): number | undefined {
  const t = text.trim();
  if (!/^[0-9]{1,10}$/.test(t)) return undefined;
  const pid = Number(t);
  return pid > 1 ? pid : undefined;
}
