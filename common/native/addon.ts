// Loads native/vsock (vsock.node) and types its surface. The addon is found
// next to the running bundle (the guest image puts it beside the agent in
// /opt/vmpod/agent/), else in the source tree's build output, or wherever
// VMPOD_VSOCK_ADDON points. Loading is lazy so that code which never touches
// vsock (most of the daemon, and every host without the addon built) does not
// depend on it.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * One fd owned by the addon (made non-blocking on adoption); closed by close()
 * or, if dropped unclosed, at GC. Sockets are read and written with recv/send,
 * anything else (a pty master) with read/write.
 */
export interface NativeHandle {
  /** Called by the addon with (status: 0 | -errno, events: UV_READABLE|UV_WRITABLE bits). */
  onpoll?: (this: NativeHandle, status: number, events: number) => void;
  readonly fd: number;
  connect(cid: number, port: number): number;
  bind(cid: number, port: number): number;
  listen(backlog: number): number;
  accept(): number;
  socketError(): number;
  setConnectTimeout(ms: number): number;
  setBufferSize(bytes: number): number;
  read(buf: Buffer): number;
  write(buf: Uint8Array): number;
  shutdown(how: number): number;
  poll(events: number): number;
  setRef(ref: boolean): void;
  localAddress(): { cid: number; port: number } | number;
  remoteAddress(): { cid: number; port: number } | number;
  close(): void;
}

export interface NativeConstants {
  VMADDR_CID_ANY: number;
  VMADDR_CID_HYPERVISOR: number;
  VMADDR_CID_LOCAL: number;
  VMADDR_CID_HOST: number;
  VMADDR_PORT_ANY: number;
  UV_READABLE: number;
  UV_WRITABLE: number;
  SHUT_RD: number;
  SHUT_WR: number;
  SHUT_RDWR: number;
  MS_RDONLY: number;
  MS_NOSUID: number;
  MS_NODEV: number;
  MS_NOEXEC: number;
  MS_REMOUNT: number;
  MS_BIND: number;
  MS_REC: number;
  MS_PRIVATE: number;
  MS_SLAVE: number;
  MS_SHARED: number;
  MS_RELATIME: number;
  MNT_FORCE: number;
  MNT_DETACH: number;
}

export interface NativeAddon {
  Handle: new (fd: number) => NativeHandle;
  /** A new non-blocking AF_VSOCK stream fd, or -errno. */
  socket(): number;
  /** Two connected non-blocking AF_UNIX stream fds, or -errno (a test aid: Handle works on any stream socket). */
  socketPair(): [number, number] | number;
  /** A connected non-blocking AF_UNIX SOCK_SEQPACKET fd (for Handle), or -errno. */
  unixSeqpacketConnect(path: string): number;
  /** This machine's CID from /dev/vsock, or -errno. */
  localCid(): number;
  /** pidfd_open(2): an fd (for Handle) readable once the process has exited, or -errno (-ESRCH: none). */
  pidfdOpen(pid: number): number;
  /**
   * posix_spawn of an absolute `path`: the child's fd i is fds[i] (-1: /dev/null), signals at their defaults,
   * its own session if `setsid`, the daemon's environment when `envp` is null; the PID, or -errno (-ENOENT,
   * -EACCES: it could not be run).
   */
  spawn(path: string, argv: string[], envp: string[] | null, cwd: string | null, fds: number[], setsid: boolean): number;
  /** pipe2(O_CLOEXEC): [read end, write end], or -errno. */
  pipe(): [number, number] | number;
  /** close(2): 0 or -errno. */
  closeFd(fd: number): number;
  /** waitpid(pid, WNOHANG): null while it runs, how it ended once reaped, or -errno. */
  reap(pid: number): { code?: number; signal?: number } | null | number;
  /** A new netns bind-mounted on the existing file `pin`, loopback up (made on a thread of its own). Throws naming the step. */
  newNetns(pin: string): void;
  // The guest's network set-up and clock (rtnetlink.cc), one `ip` command line
  // each; absent in an addon built before them (rtnetlink.ts). Each throws naming the object.
  /** `ip link set dev IF up|down`. */
  linkSetUp?(ifname: string, up: boolean): void;
  /** `ip link set dev IF mtu N`. */
  linkSetMtu?(ifname: string, mtu: number): void;
  /** `ip link set dev IF name NEW` (the link must be down). */
  linkRename?(ifname: string, newName: string): void;
  /** `ip addr flush dev IF`: every address of every family. */
  addrFlush?(ifname: string): void;
  /** `ip addr add ADDRESS/PREFIX dev IF` (IPv4 or IPv6). */
  addrAdd?(ifname: string, address: string, prefixLength: number): void;
  /** `ip route replace DEST [via GW] [dev DEV] [src SRC]`; a null destination is "default". */
  routeReplace?(destination: string | null, prefixLength: number, gateway: string | null, device: string | null, source: string | null): void;
  /** clock_settime(CLOCK_REALTIME). */
  setRealtimeClock?(seconds: number, nanoseconds: number): void;
  /** Mix and credit 1-512 bytes into the kernel's RNG, then reseed it (random.cc; root). Throws naming the step. Absent in an addon built before it. */
  reseedRandom?(entropy: Uint8Array): void;
  // Sealed memory files for VM templates (memfd.cc); absent in an addon built before them.
  /** memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING) of `sizeBytes`: the fd, or -errno. */
  memfdCreate?(name: string, sizeBytes: number): number;
  /** Seal against writes, shrinking, growing and further seals: 0, or -errno (-EBUSY while a shared writable mapping exists). */
  memfdSealReadOnly?(fd: number): number;
  /** The F_SEAL_* bits in force, or -errno. */
  memfdSeals?(fd: number): number;
  memfdConstants?: { F_SEAL_SEAL: number; F_SEAL_SHRINK: number; F_SEAL_GROW: number; F_SEAL_WRITE: number };
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
  powerOff(): void;
  /** [master, slave] (both O_CLOEXEC, slave in raw mode), or -errno. */
  openPty(): [number, number] | number;
  /** TIOCSWINSZ: 0 or -errno. */
  setWinsize(fd: number, rows: number, cols: number): number;
  /** TIOCGWINSZ, or -errno. */
  getWinsize(fd: number): { rows: number; cols: number } | number;
  constants: NativeConstants;
}

/** The addon is not built or cannot be loaded on this machine. */
export class AddonUnavailableError extends Error {
  readonly code = 'ERR_VSOCK_ADDON_UNAVAILABLE';
  constructor(tried: string[], cause: unknown) {
    super(`vsock native addon (vsock.node) could not be loaded; tried ${tried.join(', ')}. ` + 'Build it with scripts/build-native (node-gyp, needs g++ and make).', { cause });
    this.name = 'AddonUnavailableError';
  }
}

/** Where vsock.node may be, most specific first. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env, here: string = __dirname): string[] {
  const out: string[] = [];
  if (env.VMPOD_VSOCK_ADDON) out.push(env.VMPOD_VSOCK_ADDON);
  out.push(join(here, 'vsock.node'));
  // From <root>/dist*/src/native or <root>/src/native up to <root>.
  for (let dir = here; ; dir = dirname(dir)) {
    const p = join(dir, 'native', 'vsock', 'build', 'Release', 'vsock.node');
    if (existsSync(p)) {
      out.push(p);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return out;
}

// The one memo at module level: loading the addon must stay lazy (hosts and
// tests that never use vsock or ptys never load it), and a module is loaded once.
let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const tried = addonCandidates();
  let lastErr: unknown = new Error('no candidate path exists');
  for (const p of tried) {
    if (!existsSync(p)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node addon, at a path found at run time, loads only through require
      cached = require(p) as NativeAddon;
      return cached;
    } catch (err) {
      lastErr = err;
    }
  }
  throw new AddonUnavailableError(tried, lastErr);
}
