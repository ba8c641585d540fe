#!/bin/sh
# Compiles vmpod-infra (the pod's namespace holder), vmpod-mount (idmapped
# and recursively read-only mounts for runc pods) and vmpod-jail (QEMU's
# jail for VM pods) statically into native/infra/build/. Idempotent:
# rebuilds only a binary older than its source.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/build"
for name in vmpod-infra vmpod-mount vmpod-jail; do
  out="$here/build/$name"
  src="$here/$name.c"
  if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
    continue
  fi
  ${CC:-gcc} -static -Os -Wall -Wextra -Werror -o "$out.tmp" "$src"
  strip "$out.tmp"
  mv "$out.tmp" "$out"
  echo "built $out"
done
