// What a failed `runc create` (reported by conmon) means for the caller.
// runc fails for two kinds of reasons: the container's own process cannot be
// started as its spec asks (the command is not in the image, is a directory
// or not executable, the working directory is missing), which is the
// caller's to fix, and everything else (a kernel refusal, a broken bundle),
// which is ours. containerd answers UNKNOWN for both; vmpod tells them apart
// so that kubelet's and crictl's users see which side must act.

import { FailedPreconditionError, InternalError } from '../../../common/errors';

/**
 * runc's messages for a process it cannot start (runc 1.1:
 * `exec: "x": executable file not found in $PATH`, `exec: "/x": stat /x: no
 * such file or directory`, `exec: "/etc": is a directory`, `exec: "/x":
 * permission denied`; `chdir to cwd ("/x") set in config.json failed`).
 */
const PROCESS_CANNOT_START = [/\bexec: "/, /\bchdir to cwd \(/];

/**
 * runc logs in logrus's text format, its warnings first
 * (`level=warning msg="cannot toggle freezer…"`): the last error line's
 * message, unquoted, is what went wrong. Anything else is kept as it came.
 */
export function runcErrorText(message: string): string {
  let found: string | undefined;
  for (const line of message.split('\n')) {
    const m = /\blevel=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) found = m[1].replace(/\\(.)/g, '$1');
  }
  return (found ?? message).trim();
}

/** The typed error for runc create of container `id` failing with `message`. Pure. */
export function runcCreateError(id: string, message: string): FailedPreconditionError | InternalError {
  const msg = runcErrorText(message) || 'no message';
  if (PROCESS_CANNOT_START.some((re) => re.test(msg))) {
    return new FailedPreconditionError(`container ${id}: its process cannot be started as its spec asks (check command, args and working_dir against the image): ${msg}`);
  }
  return new InternalError(`runc create of ${id} failed: ${msg}`);
}
