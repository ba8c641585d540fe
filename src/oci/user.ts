// Which uid/gid/groups the container process gets. Precedence follows
// containerd: CRI run_as_username, else run_as_user, else the image's User;
// run_as_group overrides the primary group; names are looked up in the
// image's own /etc/passwd and /etc/group (never the host's).
//
// Supplemental groups follow the CRI SupplementalGroupsPolicy as containerd
// 2.x applies it: the primary gid always comes first; Merge (the default)
// adds the groups the image's /etc/group lists the user as a member of, then
// the requested supplemental_groups (kubelet puts the pod's fsGroup among
// them); Strict adds only the requested ones, so an image cannot slip a group
// into the process that the pod spec did not name (KEP-3619).

import { InvalidArgumentError } from '../../common/errors';
import type { LinuxContainerSecurityContext__Output } from '../generated/cri/runtime/v1/LinuxContainerSecurityContext';
import type { OciUser } from './types';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The colon-separated fields of each entry of an /etc/passwd or /etc/group text: lines with at least `min` fields and a name; comments skipped. */
function entryFields(text: string, min: number): string[][] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= min && f[0] !== '' && !f[0].startsWith('#'));
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const [name, , uidField, gidField] of entryFields(text, 4)) {
    const uid = Number(uidField);
    const gid = Number(gidField);
    if (Number.isInteger(uid) && Number.isInteger(gid)) out.push({ name: name, uid, gid });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const [name, , gidField, members] of entryFields(text, 3)) {
    const gid = Number(gidField);
    if (!Number.isInteger(gid)) continue;
    out.push({
      name: name,
      gid,
      members: (members ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    });
  }
  return out;
}

const isId = (s: string): boolean => /^\d+$/.test(s);

function lookupGroup(spec: string, groups: GroupEntry[], field: string): number {
  if (isId(spec)) return Number(spec);
  const g = groups.find((e) => e.name === spec);
  if (!g) throw new InvalidArgumentError(field, `group "${spec}" is not in the image's /etc/group`);
  return g.gid;
}

/**
 * Whether the image's /etc/group memberships join the requested groups. An
 * unset policy is Merge (the proto default); a value this runtime does not
 * know is refused, as containerd refuses it, rather than run the container
 * with groups the caller did not ask for.
 */
export function supplementalGroupsPolicy(sc: LinuxContainerSecurityContext__Output | null | undefined): 'Merge' | 'Strict' {
  const p = (sc?.supplemental_groups_policy ?? 'Merge') as unknown;
  if (p === 'Merge' || p === 0) return 'Merge';
  if (p === 'Strict' || p === 1) return 'Strict';
  throw new InvalidArgumentError('config.linux.security_context.supplemental_groups_policy', `unknown supplemental groups policy ${String(p)}; this runtime knows Merge and Strict`);
}

/**
 * A group without a user is refused, as containerd refuses it ("user group is
 * specified without user"): the image's user would otherwise run with a group
 * the pod spec chose for a user it never named. An unknown supplemental
 * groups policy is refused here too. Pure, so CreateContainer can check both
 * before doing any work.
 */
export function checkUserRequest(sc: LinuxContainerSecurityContext__Output | null | undefined): void {
  supplementalGroupsPolicy(sc);
  if (sc?.run_as_group && !sc.run_as_user && !sc.run_as_username) {
    throw new InvalidArgumentError('config.linux.security_context.run_as_group', `group ${String(sc.run_as_group.value)} is set without run_as_user or run_as_username; set a user too`);
  }
}

export function resolveUser(sc: LinuxContainerSecurityContext__Output | null, imageUser: string, passwdText: string, groupText: string): OciUser {
  checkUserRequest(sc);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;

  if (sc?.run_as_username) {
    const p = passwd.find((e) => e.name === sc.run_as_username);
    if (!p) throw new InvalidArgumentError('linux.security_context.run_as_username', `user "${sc.run_as_username}" is not in the image's /etc/passwd`);
    ({ uid, gid, name } = p);
  } else if (sc?.run_as_user) {
    uid = Number(sc.run_as_user.value);
    const p = passwd.find((e) => e.uid === uid);
    if (p) ({ gid, name } = p);
  } else {
    const [u = '', g] = imageUser.split(':', 2);
    if (u === '' || isId(u)) {
      uid = u === '' ? 0 : Number(u);
      const p = passwd.find((e) => e.uid === uid);
      if (p) ({ gid, name } = p);
    } else {
      const p = passwd.find((e) => e.name === u);
      if (!p) throw new InvalidArgumentError('image.config.User', `user "${u}" is not in the image's /etc/passwd`);
      ({ uid, gid, name } = p);
    }
    if (g !== undefined && g !== '') gid = lookupGroup(g, groups, 'image.config.User');
  }
  if (sc?.run_as_group) gid = Number(sc.run_as_group.value);
  const primary = gid ?? 0;

  const additional = new Set<number>([primary]);
  if (name && supplementalGroupsPolicy(sc) === 'Merge') for (const g of groups) if (g.members.includes(name)) additional.add(g.gid);
  for (const g of sc?.supplemental_groups ?? []) additional.add(Number(g));
  return { uid, gid: primary, additionalGids: [...additional] };
}
