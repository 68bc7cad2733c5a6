#!/bin/bash
# Builds the initramfs of one emulated box: target/rootfs/<box>.cpio.gz
#   /bin/busybox (+ applet links made at boot), /bin/tvmeshd (the box's static binary),
#   /lib/modules/*.ko + order (virtio-net), /init, /etc/tvmesh/{tvmesh.conf,board.conf}
# Usage: rootfs/build.sh BOX            BOX: qemu-aarch64-virt | qemu-armv7-virt | qemu-mipsel-malta
# Needs `make cross-deps` (kernel, modules, busybox) and `make cross TARGET=<the board's target>`.
set -eu
cd "$(dirname "$0")/.."
box=${1:?usage: rootfs/build.sh BOX}
TDIR=${CARGO_TARGET_DIR:-target}
[ -f "rootfs/$box.box" ] || { echo "rootfs: no rootfs/$box.box" >&2; exit 2; }

# `key = value` lookup in a profile or .box file (comments stripped).
val() { sed -n "s/^$2[[:space:]]*=[[:space:]]*\([^#]*\).*/\1/p" "$1" | sed 's/[[:space:]]*$//' | tail -n1; }
arch=$(val "rootfs/$box.box" arch)
triple=$(val "board/$box.conf" target)
boot=$TDIR/cross/boot/$arch
bin=$TDIR/$triple/release/tvmeshd
for f in "$boot/busybox" "$boot/modules/order" "$bin"; do
    [ -e "$f" ] || { echo "rootfs: missing $f (make cross-deps; make cross TARGET=$triple)" >&2; exit 1; }
done

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc/tvmesh,lib/modules}
install -m 755 "$boot/busybox" "$bin" "$stage/bin/"
install -m 755 rootfs/init "$stage/init"
install -m 644 rootfs/tvmesh.conf "$stage/etc/tvmesh/tvmesh.conf"
install -m 644 "board/$box.conf" "$stage/etc/tvmesh/board.conf"
cp "$boot"/modules/*.ko "$boot/modules/order" "$stage/lib/modules/"
# /dev/console lets the kernel give /init a console before devtmpfs is mounted; without the
# right to mknod /init still works (it reopens the console itself).
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

out=$TDIR/rootfs/$box.cpio.gz
mkdir -p "$(dirname "$out")"
# newc is the format the kernel unpacks. Fixed mtimes, owner root and --reproducible (no inode
# numbers) make the image depend on the file contents only.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "rootfs: $out ($(( $(stat -c %s "$out") / 1024 )) KiB; tvmeshd $triple $(( $(stat -c %s "$bin") / 1024 )) KiB)"
