// Which seccomp filter a container gets: RuntimeDefault (the profile in
// seccomp-default.ts, narrowed to the container's capabilities), Unconfined,
// or a Localhost profile read from the host. Privileged containers and an
// unset profile are unconfined, as the CRI API specifies.

import { InvalidArgumentError } from '../../common/errors';
import type { LinuxContainerSecurityContext__Output } from '../generated/cri/runtime/v1/LinuxContainerSecurityContext';
import type { HostFacts } from './input';
import type { OciSeccomp } from './types';
import { ALLOWED_SYSCALLS, CLONE_NAMESPACE_FLAGS, CONDITIONAL_RULES, ENOSYS, EPERM, SCMP_ARCHES } from './seccomp-default';

export function defaultSeccompProfile(bounding: readonly string[]): OciSeccomp {
  const caps = new Set(bounding);
  const syscalls: OciSeccomp['syscalls'] = [];
  const hasAdmin = caps.has('CAP_SYS_ADMIN');
  syscalls.push({ names: ALLOWED_SYSCALLS.filter((s) => hasAdmin || s !== 'clone'), action: 'SCMP_ACT_ALLOW' });
  if (!hasAdmin) {
    // clone is allowed only without namespace flags; clone3 hides its flags
    // in memory seccomp cannot read, so it reports ENOSYS (libc falls back).
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  for (const c of CONDITIONAL_RULES) if (c.caps.every((cap) => caps.has(cap))) syscalls.push({ ...c.rule, names: [...c.rule.names] });
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: [...SCMP_ARCHES], syscalls };
}

type ProfileChoice = { kind: 'unconfined' } | { kind: 'default' } | { kind: 'localhost'; path: string };

export function seccompChoice(sc: LinuxContainerSecurityContext__Output | null): ProfileChoice {
  if (!sc || sc.privileged) return { kind: 'unconfined' };
  if (sc.seccomp) {
    switch (sc.seccomp.profile_type) {
      case 'RuntimeDefault':
        return { kind: 'default' };
      case 'Unconfined':
        return { kind: 'unconfined' };
      case 'Localhost':
        if (!sc.seccomp.localhost_ref) throw new InvalidArgumentError('linux.security_context.seccomp.localhost_ref', 'is required for a Localhost profile');
        return { kind: 'localhost', path: sc.seccomp.localhost_ref };
    }
  }
  // The deprecated string field, still sent by older kubelets.
  const p = sc.seccomp_profile_path;
  if (p === 'runtime/default' || p === 'docker/default') return { kind: 'default' };
  if (p.startsWith('localhost/')) return { kind: 'localhost', path: p.slice('localhost/'.length) };
  if (p === '' || p === 'unconfined') return { kind: 'unconfined' };
  throw new InvalidArgumentError('linux.security_context.seccomp_profile_path', `"${p}" is not runtime/default, unconfined or localhost/<path>`);
}

export function resolveSeccomp(sc: LinuxContainerSecurityContext__Output | null, bounding: readonly string[], host: HostFacts): OciSeccomp | undefined {
  const choice = seccompChoice(sc);
  switch (choice.kind) {
    case 'unconfined':
      return undefined;
    case 'default':
      return defaultSeccompProfile(bounding);
    case 'localhost': {
      const field = 'linux.security_context.seccomp.localhost_ref';
      let text: string;
      try {
        text = host.readFile(choice.path);
      } catch (err) {
        throw new InvalidArgumentError(field, `cannot read seccomp profile "${choice.path}": ${(err as Error).message}`);
      }
      try {
        const parsed = JSON.parse(text) as OciSeccomp;
        if (typeof parsed.defaultAction !== 'string') throw new Error('no defaultAction');
        return { ...parsed, architectures: parsed.architectures ?? [...SCMP_ARCHES], syscalls: parsed.syscalls ?? [] };
      } catch (err) {
        throw new InvalidArgumentError(field, `seccomp profile "${choice.path}" is not a valid profile: ${(err as Error).message}`);
      }
    }
  }
}
