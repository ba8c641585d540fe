/*
 * vmpod-jail: builds QEMU's jail (src/hypervisor/qemu/jail.ts says what it
 * holds and why) with system calls, then execs the rest of its arguments:
 *
 *   vmpod-jail ROOT {ro|rw|tree|dev PATH | link PATH TARGET}... -- COMMAND [ARG]...
 *
 * The same steps as jail.ts's JAIL_SCRIPT, in the same order: a mount
 * namespace of its own whose mounts are the host's slaves (unshare --mount
 * --propagation slave), an empty tmpfs at ROOT, each PATH bound at
 * ROOT/PATH on a mount point of its own kind (dir or file; `ro` remounted
 * read-only, nosuid, nodev; `tree` bound recursively; `link` a symlink), a
 * proc of its own (hidepid=invisible, subset=pid), pivot_root into ROOT,
 * the old root detached, the new root read-only. That script ran ~45
 * programs (mkdir, mount, ln, ...) per VM start, ~0.2 s; this runs none.
 * Any failure prints the step and the path and exits 125, before COMMAND
 * runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what, const char *path) {
  fprintf(stderr, "vmpod-jail: %s %s: %s\n", what, path, strerror(errno));
  exit(125);
}

static void usage(const char *why) {
  fprintf(stderr, "vmpod-jail: %s\nusage: vmpod-jail ROOT {ro|rw|tree|dev PATH | link PATH TARGET}... -- COMMAND [ARG]...\n", why);
  exit(125);
}

/* mkdir -p (0755). */
static void mkdirs(const char *path) {
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof buf) {
    errno = ENAMETOOLONG;
    die("mkdir", path);
  }
  strcpy(buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
}

/* ROOT + PATH (PATH absolute). */
static void in_root(char *out, const char *root, const char *path) {
  if (path[0] != '/') usage("paths must be absolute");
  if ((size_t)snprintf(out, PATH_MAX, "%s%s", root, path) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    die("path", path);
  }
}

/* The parent dir of `path`, made in place (dirname without copying). */
static void mkdir_parent(char *path) {
  char *slash = strrchr(path, '/');
  if (!slash || slash == path) return;
  *slash = '\0';
  mkdirs(path);
  *slash = '/';
}

int main(int argc, char **argv) {
  if (argc < 4) usage("too few arguments");
  const char *root = argv[1];
  if (root[0] != '/') usage("ROOT must be absolute");
  int i = 2;

  /* unshare --mount --propagation slave */
  if (unshare(CLONE_NEWNS) < 0) die("unshare", "CLONE_NEWNS");
  if (mount("none", "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) die("make rslave", "/");

  mkdirs(root);
  if (mount("vmpod-jail", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0) die("mount tmpfs", root);

  char dst[PATH_MAX];
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    const char *kind = argv[i];
    if (i + 1 >= argc) usage("an entry without a path");
    const char *path = argv[i + 1];
    in_root(dst, root, path);
    if (strcmp(kind, "link") == 0) {
      if (i + 2 >= argc) usage("a link without a target");
      mkdir_parent(dst);
      if (symlink(argv[i + 2], dst) < 0) die("symlink", dst);
      i++;
      continue;
    }
    int tree = strcmp(kind, "tree") == 0;
    int ro = strcmp(kind, "ro") == 0;
    if (!tree && !ro && strcmp(kind, "rw") != 0 && strcmp(kind, "dev") != 0) usage("unknown entry kind");
    /* A mount point of the source's kind ([ -d ] follows symlinks, so does stat). */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      mkdirs(dst);
    } else {
      mkdir_parent(dst);
      int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) die("create mount point", dst);
      close(fd);
    }
    if (mount(path, dst, NULL, MS_BIND | (tree ? MS_REC : 0), NULL) < 0) die(tree ? "rbind" : "bind", path);
    if (ro && mount("none", dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) die("remount read-only", dst);
  }
  if (i >= argc || i + 1 >= argc) usage("no -- COMMAND");
  char **cmd = argv + i + 1;

  /*
   * QEMU's 9p server changes modes through /proc/self/fd/<n>, and umount
   * reads /proc/self/mountinfo. hidepid=invisible: QEMU's uid sees its own
   * process only; subset=pid: no /proc/sys, /proc/kcore or other
   * system-wide files.
   */
  in_root(dst, root, "/proc");
  if (mkdir(dst, 0755) < 0) die("mkdir", dst);
  if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid") < 0) die("mount proc", dst);

  if (chdir(root) < 0) die("chdir", root);
  if (mkdir(".old", 0700) < 0) die("mkdir", ".old");
  if (syscall(SYS_pivot_root, ".", ".old") < 0) die("pivot_root", root);
  if (umount2("/.old", MNT_DETACH) < 0) die("umount", "/.old");
  if (rmdir("/.old") < 0) die("rmdir", "/.old");
  if (mount("none", "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) die("remount read-only", "/");
  if (chdir("/") < 0) die("chdir", "/");
  execvp(cmd[0], cmd);
  die("exec", cmd[0]);
  return 125;
}
