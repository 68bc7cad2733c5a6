#!/bin/bash
# Installs every piece the cross builds and QEMU tests need, on a fresh Debian 12 (bookworm):
#   apt:    qemu-user, qemu-system-arm/mips, cross gcc + libc for each arch, musl-dev multiarch,
#           clang (for LLVM libunwind), cpio
#   rustup: prebuilt std for x86_64/aarch64 musl, rust-src for the -Zbuild-std targets
#   cache:  Debian kernels (+ the virtio-net modules) and busybox-static for the three emulated boxes,
#           unpacked under $CROSS_CACHE (default target/cross/boot/<arch>/)
# Idempotent: when everything is present it only checks and exits in about a second.
# Only apt and rustup download anything.
set -eu
cd "$(dirname "$0")/.."
CACHE=${CROSS_CACHE:-target/cross}
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

# ---- apt ------------------------------------------------------------------------------------
FOREIGN="arm64 armhf mipsel"
PKGS="qemu-user qemu-system-arm qemu-system-mips clang cpio
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      gcc-arm-linux-gnueabihf libc6-dev-armhf-cross musl-dev:armhf
      gcc-mipsel-linux-gnu libc6-dev-mipsel-cross musl-dev:mipsel
      gcc-mips-linux-gnu libc6-dev-mips-cross"

# `apt-get update` may fail on one index ("Mirror sync in progress"): retry once, then go on
# with whatever lists we have.
apt_update() {
    $SUDO apt-get update -qq || { sleep 5; $SUDO apt-get update -qq; } ||
        echo "cross-deps: apt-get update failed on some index; continuing with the lists we have" >&2
}

missing=
for a in $FOREIGN; do dpkg --print-foreign-architectures | grep -qx "$a" || missing="$missing $a"; done
if [ -n "$missing" ]; then
    for a in $missing; do $SUDO dpkg --add-architecture "$a"; done
    apt_update; updated=1
fi
need=
for p in $PKGS; do
    # dpkg-query wants name:arch for foreign packages, plain name for native ones.
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
    [ -n "${updated:-}" ] || apt_update
    echo "cross-deps: apt-get install$need"
    # --no-install-recommends is safe: each libc6-dev-*-cross is named explicitly above.
    # shellcheck disable=SC2086 # $need is a list
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
fi

# ---- rustup ---------------------------------------------------------------------------------
have_t=$(rustup target list --installed)
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    echo "$have_t" | grep -qx "$t" || rustup target add "$t"
done
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src

# ---- kernels + busybox for the emulated boxes -----------------------------------------------
# The kernel ABI version comes from apt's metapackage (never hard-coded), e.g. 6.1.0-50.
# $1 = Debian arch, $2 = kernel flavour metapackage, $3 = package to fetch (with @ABI@)
fetch_box() {
    arch=$1 meta=$2 pkg=$3
    dir=$CACHE/boot/$arch
    [ -f "$dir/vmlinuz" ] && [ -x "$dir/busybox" ] && [ -d "$dir/modules" ] && return 0
    abi=$(apt-cache depends "$meta:$arch" | sed -n 's/.*Depends: linux-image-\([0-9][0-9.]*-[0-9]*\)-.*/\1/p' | head -n1)
    [ -n "$abi" ] || { echo "cross-deps: cannot resolve kernel version for $meta:$arch" >&2; exit 1; }
    pkg=${pkg//@ABI@/$abi}
    dl=$CACHE/dl; mkdir -p "$dl" "$dir"
    echo "cross-deps: fetching $pkg:$arch busybox-static:$arch"
    (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:$arch" "busybox-static:$arch")
    tmp=$(mktemp -d)
    dpkg-deb --fsys-tarfile "$dl/${pkg}_"*"_$arch.deb" | tar -x -C "$tmp" --wildcards './boot/vmlinu*' './lib/modules'
    dpkg-deb --fsys-tarfile "$dl/busybox-static_"*"_$arch.deb" | tar -x -C "$tmp" ./bin/busybox
    # Keep only virtio_net + virtio_pci and what they depend on (read from each .ko's `depends=`,
    # there is no modules.dep in the package), written to modules/order in load order.
    rm -rf "$dir/modules"; mkdir -p "$dir/modules"
    add_mod() {
        grep -qx "$1" "$dir/modules/order" 2>/dev/null && return 0
        local ko d
        ko=$(find "$tmp/lib/modules" -name "$1.ko*" | head -n1)
        [ -n "$ko" ] || { echo "cross-deps: module $1 not in $pkg (built in?)" >&2; return 0; }
        for d in $(tr '\0' '\n' < "$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$d"; done
        cp "$ko" "$dir/modules/"
        echo "$1" >> "$dir/modules/order"
    }
    touch "$dir/modules/order"
    add_mod virtio_net; add_mod virtio_pci
    cp "$tmp"/boot/vmlinu* "$dir/vmlinuz"
    cp "$tmp/bin/busybox" "$dir/busybox"
    echo "$abi" > "$dir/kernel-version"
    rm -rf "$tmp" "$dl"/*.deb
}
fetch_box arm64  linux-image-arm64     linux-image-@ABI@-arm64-unsigned
fetch_box armhf  linux-image-armmp     linux-image-@ABI@-armmp
fetch_box mipsel linux-image-4kc-malta linux-image-@ABI@-4kc-malta
echo "cross-deps: all present"
