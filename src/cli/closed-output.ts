// `vmpod check | head -1`: once the reader has gone, every further write to
// stdout fails with EPIPE, and Node reports it as an 'error' event on
// process.stdout; unhandled, that crashed the CLI with a stack trace.
//
// A careful CLI does what `ls | head -1` does, quietly, and here also keeps
// the exit code the command would have had: the reader leaving early is its
// own choice (head, grep -q), not a failure of the command. `vmpod check`'s
// code answers "can this host run every configured handler", and a script
// under `set -o pipefail` running `vmpod check | grep -q kvm` must get that
// answer, not 141 (128+SIGPIPE, what a process killed by SIGPIPE reports).
// Node ignores SIGPIPE, so the writes after EPIPE are simply dropped: the
// stream is destroyed and later writes fail without another event.
//
// Any other write error is not understood here and stays as loud as before.

export function quietOnClosedOutput(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') return;
      throw err;
    });
  }
}
