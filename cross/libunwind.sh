#!/bin/bash
# Builds LLVM libunwind (from the toolchain's rust-src) as OUTDIR/libunwind.a for a -Zbuild-std
# musl target. std on musl+crt-static links `-lunwind`; gcc's libgcc_eh.a does not fit mipsel musl
# (it references a glibc symbol), so every build-std musl target gets this one. ~1 s with clang.
# Usage: cross/libunwind.sh RUST_TRIPLE OUTDIR      (no-op when OUTDIR/libunwind.a exists)
set -eu
triple=$1 out=$2
[ -f "$out/libunwind.a" ] && exit 0

src=$(rustc --print sysroot)/lib/rustlib/src/rust/src/llvm-project/libunwind
[ -d "$src" ] || { echo "libunwind.sh: $src missing: rustup component add rust-src" >&2; exit 1; }

# clang target + the musl headers (Debian's multiarch musl-dev) + ABI flags matching the Rust target.
case $triple in
    armv7-unknown-linux-musleabihf)
        cflags="--target=armv7-unknown-linux-musleabihf -mfloat-abi=hard -mfpu=vfpv3-d16 -mthumb"
        inc=/usr/include/arm-linux-musleabihf ;;
    mipsel-unknown-linux-musl)
        # Debian's musl for mipsel is hard-float; the Rust target is built with -soft-float to match.
        cflags="--target=mipsel-unknown-linux-musl -march=mips32r2 -mhard-float"
        inc=/usr/include/mipsel-linux-musl ;;
    *) echo "libunwind.sh: no recipe for $triple" >&2; exit 1 ;;
esac

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# -nostdlibinc: clang's own builtin headers (stddef.h, …) but no host /usr/include.
common="$cflags -O2 -fPIC -nostdlibinc -isystem $inc -I$src/include
        -D_LIBUNWIND_IS_NATIVE_ONLY -D_LIBUNWIND_DISABLE_VISIBILITY_ANNOTATIONS -DNDEBUG
        -funwind-tables -fvisibility=hidden -fstrict-aliasing"
for f in libunwind.cpp Unwind-EHABI.cpp UnwindLevel1.c UnwindLevel1-gcc-ext.c Unwind-sjlj.c \
         UnwindRegistersRestore.S UnwindRegistersSave.S; do
    case $f in
        *.cpp) extra="-std=c++17 -nostdinc++ -fno-exceptions -fno-rtti" ;;
        *.c)   extra="-std=c99" ;;
        *)     extra="" ;;
    esac
    # shellcheck disable=SC2086
    clang $common $extra -c "$src/src/$f" -o "$tmp/${f%.*}.o"
done
mkdir -p "$out"
llvm-ar-14 rcs "$out/libunwind.a" "$tmp"/*.o 2>/dev/null || ar rcs "$out/libunwind.a" "$tmp"/*.o
echo "libunwind.sh: built $out/libunwind.a"
