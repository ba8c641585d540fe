#!/bin/bash
# Boot the built guest (the one this checkout's guest-image/build recorded in
# dist/guest-image.json, or $VMPOD_GUEST_DIR) under QEMU TCG with a
# throw-away initramfs variant that runs test/guest/vsock-selftest.ts (bundled
# with esbuild, next to a fresh vsock.node) instead of the agent, then powers
# off. Everything it creates lives in one temp dir, removed on exit. The guest
# has no vsock device: the test runs over vsock_loopback (CID 1) inside it.
# QEMU stays in the script's process group (timeout --foreground), so
# killing that group stops everything.
# Prints the guest console; exit 0 iff the last selftest line is PASS.
#
# Usage: test/guest/boot-vsock-selftest.sh [MiB] [connections]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RECORD=$REPO/dist/guest-image.json
if [ -n "${VMPOD_GUEST_DIR:-}" ]; then
	GUEST=$VMPOD_GUEST_DIR
elif [ -f "$RECORD" ]; then
	GUEST=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).dir' "$RECORD")
else
	echo "no guest image recorded in $RECORD (run guest-image/build) and no VMPOD_GUEST_DIR" >&2
	exit 1
fi
MIB=${1:-64}
CONNS=${2:-50}
[ -f "$GUEST/manifest.json" ] || { echo "no guest image at $GUEST (run guest-image/build)" >&2; exit 1; }
ADDON=$REPO/native/vsock/build/Release/vsock.node
[ -f "$ADDON" ] || { echo "no $ADDON (run scripts/build-native)" >&2; exit 1; }

T=$(mktemp -d /tmp/vsock-selftest.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' TERM INT # run the EXIT trap when stopped
mkdir -p "$T/ird/st"
(cd "$REPO" && npx --no-install esbuild test/guest/vsock-selftest.ts --bundle --platform=node --target=node20 \
	--log-level=warning --outfile="$T/ird/st/vsock-selftest.js")
cp "$ADDON" "$T/ird/st/vsock.node"
(cd "$T/ird" && gzip -dc "$GUEST/initramfs.cpio.gz" | cpio -id --quiet)
# Replace the hand-over to the agent: copy the test into the new root's /run
# (tmpfs; the rootfs is read-only), run it, power off.
grep -q '^exec switch_root' "$T/ird/init" || { echo "guest init has no 'exec switch_root' line to replace" >&2; exit 1; }
sed -i '/^exec switch_root/i mkdir -p /newroot/run/st && cat /st/vsock-selftest.js > /newroot/run/st/vsock-selftest.js && cat /st/vsock.node > /newroot/run/st/vsock.node || fail "copy selftest"' "$T/ird/init"
sed -i "s|^exec switch_root .*|exec switch_root /newroot /bin/sh -c 'VMPOD_SELFTEST_MIB=$MIB VMPOD_SELFTEST_CONNS=$CONNS /usr/bin/node /run/st/vsock-selftest.js; /bin/poweroff -f'|" "$T/ird/init"
(cd "$T/ird" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$T/initramfs.cpio.gz"

size=$(stat -c %s "$GUEST/rootfs.img")
maxmem=$((1024 + size / 1048576 + 2))
cmdline=$(node -p "require('$GUEST/manifest.json').kernel.cmdline")
timeout --foreground 900 qemu-system-x86_64 -nodefaults -no-user-config -display none \
	-machine pc,nvdimm=on -bios /usr/share/qemu/qboot.rom -accel tcg -cpu max -smp 1 \
	-m "1024M,slots=2,maxmem=${maxmem}M" -no-reboot -serial stdio \
	-kernel "$GUEST/vmlinux" -initrd "$T/initramfs.cpio.gz" -append "$cmdline" \
	-object "memory-backend-file,id=mem1,share=on,readonly=on,mem-path=$GUEST/rootfs.img,size=$size" \
	-device nvdimm,memdev=mem1,id=nv1,unarmed=on | tee "$T/console.log"
last=$(grep -a '^vsock-selftest: \(PASS\|FAIL\)' "$T/console.log" | tail -1 | tr -d '\r')
[ "$last" = "vsock-selftest: PASS" ]
