#!/bin/bash
# Linker for the -Zbuild-std musl targets: the Debian cross gcc (for crtbegin/crtend and libgcc)
# pointed at Debian's multiarch musl instead of its glibc:
#   -B   makes gcc take crt1.o/rcrt1.o/crti.o/crtn.o from the musl dir first,
#   -L   puts musl's libc.a ahead of glibc's, and our LLVM libunwind.a on the path for `-lunwind`.
# rustc runs with -C link-self-contained=no, so it adds no crt objects of its own.
# Usage (from the per-target wrappers in this dir): musl-gcc.sh GCC_PREFIX MUSL_MULTIARCH RUST_TRIPLE ARGS…
set -eu
gcc=$1-gcc musl=/usr/lib/$2 triple=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
# libunwind.a is cached under the target dir; built on first use (cross.mk sets CROSS_UNWIND_DIR).
uw=${CROSS_UNWIND_DIR:-$here/../../target/cross/unwind}/$triple
[ -f "$uw/libunwind.a" ] || "$here/../libunwind.sh" "$triple" "$uw" >&2
exec "$gcc" -B"$musl/" -L"$musl" -L"$uw" "$@"
