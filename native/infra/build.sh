#!/bin/sh
# Compiles vmpod-infra statically into native/infra/build/vmpod-infra.
# Idempotent: rebuilds only when the source is newer than the binary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build/vmpod-infra"
src="$here/vmpod-infra.c"
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
  exit 0
fi
mkdir -p "$here/build"
${CC:-gcc} -static -Os -Wall -Wextra -Werror -o "$out.tmp" "$src"
strip "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out"
