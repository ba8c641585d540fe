/*
 * vmpod-mount: makes the mounts runc 1.1 cannot make itself (it predates
 * idmapped mounts and the "rro" option in the OCI spec), with the new mount
 * API, onto a staging path the daemon then hands runc as a plain rbind
 * source (a bind copies each mount's idmapping and read-only flag):
 *
 *   vmpod-mount [--userns PATH] [--rro | --ro] SOURCE TARGET
 *
 * clones the whole tree at SOURCE (open_tree OPEN_TREE_CLONE|AT_RECURSIVE),
 * idmaps every mount of it to the user namespace at PATH (MOUNT_ATTR_IDMAP),
 * and/or makes every mount of it read-only and private (MOUNT_ATTR_RDONLY
 * with AT_RECURSIVE), or only its top mount (--ro: what a plain read-only
 * bind gives, made here because runc 1.1's read-only remount is refused in
 * a user namespace when the source has locked flags such as nosuid), then
 * attaches it at TARGET (move_mount). TARGET must
 * exist (a directory for a directory, a file for a file). Nothing is
 * attached unless every step succeeded: the clone is detached until
 * move_mount, and a detached tree is freed when its fd closes.
 *
 * A separate static program rather than the Node addon: the addon is also
 * built into the guest image, which this does not concern.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MS_PRIVATE
#define MS_PRIVATE (1 << 18)
#endif

static int fail(const char *what, const char *path) {
  fprintf(stderr, "vmpod-mount: %s %s: %s\n", what, path, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  const char *userns = NULL;
  int rro = 0, ro = 0;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--userns") == 0 && i + 1 < argc) {
      userns = argv[++i];
    } else if (strcmp(argv[i], "--rro") == 0) {
      rro = 1;
    } else if (strcmp(argv[i], "--ro") == 0) {
      ro = 1;
    } else {
      break;
    }
  }
  if (argc - i != 2 || (!userns && !rro && !ro) || (rro && ro)) {
    fprintf(stderr, "usage: vmpod-mount [--userns PATH] [--rro | --ro] SOURCE TARGET (at least one option)\n");
    return 2;
  }
  const char *source = argv[i], *target = argv[i + 1];

  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) return fail("open_tree", source);

  if (userns) {
    int ns = open(userns, O_RDONLY | O_CLOEXEC);
    if (ns < 0) return fail("open user namespace", userns);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (unsigned long long)ns;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) return fail("idmap (mount_setattr MOUNT_ATTR_IDMAP)", source);
    close(ns);
  }
  if (rro) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    /* Private: a submount appearing later on the host must not reach the container writable. */
    attr.propagation = MS_PRIVATE;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) return fail("make read-only (mount_setattr MOUNT_ATTR_RDONLY)", source);
  }
  if (ro) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) return fail("make read-only (mount_setattr MOUNT_ATTR_RDONLY)", source);
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) return fail("move_mount onto", target);
  close(tree);
  return 0;
}
