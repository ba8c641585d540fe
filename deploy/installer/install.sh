#!/bin/sh
# vmpod node installer: run by the installer DaemonSet (deploy/installer/daemonset.yaml)
# with the node's / mounted at HOST_ROOT, or by hand.
#
#   install.sh              copy vmpod onto the node, write its config (only if
#                           absent), its systemd unit and its node labels; start it
#   install.sh --uninstall  stop it and remove exactly what install put there
#
# Environment:
#   HOST_ROOT  the node's root as this process sees it (default /host)
#   PAYLOAD    what to install (default: the directory above this script):
#                package.json proto/ dist/ node_modules/   vmpod itself
#                native/                                   its native parts (vmpod-infra, vsock.node)
#                bin/node                                  the Node.js binary it runs on
#                guest/                                    the guest image (vmlinux, rootfs.img, ...)
#                systemd/vmpod.service                     the repository's unit file
#
# Every path install creates is recorded in HOST_ROOT/opt/vmpod.installed, so
# uninstall removes those and nothing else. The config file is the operator's:
# install writes it only when there is none, and uninstall removes it only if
# install wrote it and nobody has changed it since (its checksum is recorded).
#
# The unit is enabled and started only when HOST_ROOT is what PID 1 sees as
# / (the DaemonSet runs with hostPID and mounts the host's / there): that is
# checked by creating a file under HOST_ROOT and looking for it through
# PID 1's mount namespace. Otherwise (a scratch HOST_ROOT, a test) systemd is
# left alone and the script says so.

set -eu

HOST_ROOT=${HOST_ROOT:-/host}
# Paths below are "$HOST_ROOT/<relative path>": the node's / itself is the empty prefix.
case $HOST_ROOT in
  /) HOST_ROOT= ;;
  *) HOST_ROOT=${HOST_ROOT%/} ;;
esac
PAYLOAD=${PAYLOAD:-$(cd "$(dirname "$0")/.." && pwd)}
PREFIX=opt/vmpod
MANIFEST=$HOST_ROOT/opt/vmpod.installed
UNIT=etc/systemd/system/vmpod.service
CONFIG=etc/vmpod/vmpod.toml
NFD_DIR=etc/kubernetes/node-feature-discovery/features.d
LABELS=$NFD_DIR/vmpod

say() { echo "vmpod-installer: $*"; }
die() {
  say "error: $*" >&2
  exit 1
}

# sha256sum: coreutils and busybox both have it (busybox, the installer image's tools, has no cksum).
checksum() { sha256sum < "$1" | cut -d' ' -f1; }

# Is HOST_ROOT the root of PID 1's mount namespace (so systemctl there manages this install)?
host_is_pid1_root() {
  command -v nsenter > /dev/null 2>&1 || return 1
  probe=$PREFIX/.probe-$$
  : > "$HOST_ROOT/$probe" 2> /dev/null || return 1
  if nsenter -t 1 -m -- test -e "/$probe" 2> /dev/null; then r=0; else r=1; fi
  rm -f "$HOST_ROOT/$probe"
  return $r
}

host_systemctl() { nsenter -t 1 -m -- systemctl "$@"; }

# Record one manifest line (kind path [checksum]) unless already there.
record() {
  grep -qxF "$*" "$NEW_MANIFEST" || echo "$*" >> "$NEW_MANIFEST"
}

# mkdir -p that records each directory it creates (relative to HOST_ROOT; no spaces).
mkdirs() {
  acc=
  for c in $(echo "$1" | tr / ' '); do
    acc=${acc:+$acc/}$c
    if [ ! -d "$HOST_ROOT/$acc" ]; then
      mkdir -m 0755 "$HOST_ROOT/$acc"
      record dir "$acc"
    fi
  done
}

install_vmpod() {
  [ -d "${HOST_ROOT:-/}" ] || die "HOST_ROOT $HOST_ROOT is not a directory"
  for p in package.json proto dist node_modules native bin/node guest systemd/vmpod.service; do
    [ -e "$PAYLOAD/$p" ] || die "payload $PAYLOAD has no $p"
  done
  # Start from the previous manifest so a second install keeps what the first recorded
  # (the directories it created, the config it wrote and its checksum).
  # (Built outside HOST_ROOT: opt/ itself may not exist yet.)
  NEW_MANIFEST=$(mktemp)
  trap 'rm -f "$NEW_MANIFEST"' EXIT
  if [ -f "$MANIFEST" ]; then cat "$MANIFEST" > "$NEW_MANIFEST"; fi

  # The program: copied beside the old one, then swapped in, so a daemon restarting
  # meanwhile finds either the old tree or the new one. -P keeps symlinks as links.
  mkdirs opt
  rm -rf "$HOST_ROOT/$PREFIX.new"
  mkdir -m 0755 "$HOST_ROOT/$PREFIX.new"
  for p in package.json proto dist node_modules native bin guest; do
    cp -R -P "$PAYLOAD/$p" "$HOST_ROOT/$PREFIX.new/"
  done
  rm -rf "$HOST_ROOT/$PREFIX"
  mv "$HOST_ROOT/$PREFIX.new" "$HOST_ROOT/$PREFIX"
  record tree "$PREFIX"

  # The config: the operator's once it exists.
  mkdirs etc/vmpod
  if [ -e "$HOST_ROOT/$CONFIG" ]; then
    say "keeping the existing /$CONFIG"
  else
    cat > "$HOST_ROOT/$CONFIG.tmp" << 'EOF'
# Written by the vmpod installer because there was no config. It is yours now:
# the installer never overwrites it, and uninstall leaves it once you edit it.
# Every key and its default: README.md ("Configuration").

[runtime.handlers.vm]
# The guest image the installer copied.
guest_dir = "/opt/vmpod/guest"
EOF
    mv "$HOST_ROOT/$CONFIG.tmp" "$HOST_ROOT/$CONFIG"
    record config "$CONFIG" "$(checksum "$HOST_ROOT/$CONFIG")"
    say "wrote /$CONFIG"
  fi

  # The unit: the repository's, running the Node.js binary installed with vmpod.
  mkdirs etc/systemd/system
  sed 's|^ExecStart=/usr/bin/node |ExecStart=/opt/vmpod/bin/node |' "$PAYLOAD/systemd/vmpod.service" > "$HOST_ROOT/$UNIT.tmp"
  mv "$HOST_ROOT/$UNIT.tmp" "$HOST_ROOT/$UNIT"
  record file "$UNIT"

  mkdirs "$NFD_DIR"
  record file "$LABELS"
  cat "$NEW_MANIFEST" > "$MANIFEST.tmp"
  mv "$MANIFEST.tmp" "$MANIFEST"

  if host_is_pid1_root; then
    # Labels from the host's own view (its /dev, QEMU, runc), by the installed vmpod.
    nsenter -t 1 -m -- /$PREFIX/bin/node /$PREFIX/dist/src/main.js check --node-labels "/$LABELS" || true
    host_systemctl daemon-reload
    host_systemctl enable vmpod.service
    # A restart keeps running pods (KillMode=process): the new daemon reattaches.
    host_systemctl restart vmpod.service
    say "vmpod.service enabled and (re)started"
  else
    # Not PID 1's root: check from this mount namespace, against the installed files.
    "$HOST_ROOT/$PREFIX/bin/node" "$HOST_ROOT/$PREFIX/dist/src/main.js" check --config "$HOST_ROOT/$CONFIG" --node-labels "$HOST_ROOT/$LABELS" || true
    say "HOST_ROOT ${HOST_ROOT:-/} is not PID 1's root (or nsenter is not permitted): systemd left alone; node labels describe this mount namespace's view"
  fi
  [ -s "$HOST_ROOT/$LABELS" ] || say "warning: vmpod check wrote no node labels: VM pods will not be scheduled here"
  say "installed into $HOST_ROOT"
}

uninstall_vmpod() {
  if [ ! -f "$MANIFEST" ]; then
    say "nothing to uninstall ($MANIFEST does not exist)"
    return 0
  fi
  pid1=0
  host_is_pid1_root && pid1=1
  if [ $pid1 = 1 ]; then
    host_systemctl disable --now vmpod.service || true
    say "vmpod.service stopped and disabled (running pods keep running: KillMode=process)"
  fi
  # Files and trees first, then directories deepest first (only if empty: anything
  # else in them is someone else's).
  while read -r kind path sum; do
    # Only paths below HOST_ROOT: a manifest edited on the node must not name ../ or /.
    case $path in
      '' | /* | .. | ../* | */.. | */../*)
        say "skipping manifest entry outside HOST_ROOT: $kind $path"
        continue
        ;;
    esac
    case $kind in
      tree) rm -rf "$HOST_ROOT/$path" "$HOST_ROOT/$path.new" ;;
      file) rm -f "$HOST_ROOT/$path" ;;
      config)
        if [ -f "$HOST_ROOT/$path" ] && [ "$(checksum "$HOST_ROOT/$path")" = "$sum" ]; then
          rm -f "$HOST_ROOT/$path"
        elif [ -e "$HOST_ROOT/$path" ]; then
          say "keeping /$path: it was changed after install"
        fi
        ;;
    esac
  done < "$MANIFEST"
  if [ $pid1 = 1 ]; then host_systemctl daemon-reload || true; fi
  dirs=$(grep '^dir ' "$MANIFEST" | cut -d' ' -f2- | grep -v -e '^/' -e '\.\.' | sort -r)
  rm -f "$MANIFEST"
  for path in $dirs; do
    rmdir "$HOST_ROOT/$path" 2> /dev/null || true
  done
  say "uninstalled from $HOST_ROOT"
}

case ${1:-} in
  '') install_vmpod ;;
  --uninstall) uninstall_vmpod ;;
  *) die "usage: install.sh [--uninstall]" ;;
esac
