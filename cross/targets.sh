# shellcheck shell=bash disable=SC2034
# Sourced by the cross/ scripts: the targets and how each one is built.

# Every target `make cross` builds. The last one only has to build and pass the core's tests.
CROSS_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-gnu"
# Targets whose core unit tests run under qemu-user (`make cross-test`).
CROSS_TEST_TARGETS="aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-gnu"
# Binaries that ship in boxes: these must stay under the size budget.
CROSS_BOX_TARGETS="aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl"
# Targets whose tvmeshd keeps the root role (tvmeshd's cargo feature `root`, on by default: the
# server). Every other target is a box and builds with --no-default-features: no ingest, tracker,
# signer, licence or STUN service, relay, introducer (~120 KiB on mipsel); `tvmeshd root` is
# refused there with a config error naming `role`.
CROSS_ROOT_TARGETS=${CROSS_ROOT_TARGETS-x86_64-unknown-linux-musl}

# std from rust-src (-Zbuild-std; RUSTC_BOOTSTRAP=1 lets stable cargo take the -Z flags):
#  - required where rustup has no prebuilt std (armv7 musl, the tier-3 MIPS targets);
#  - chosen for release binaries of every target, because std built without its `backtrace`
#    feature (the DWARF symbolizer: gimli, addr2line, object, miniz_oxide, rustc-demangle and the
#    code around them) makes the stripped binary 40-50 % smaller (aarch64 581 -> 321 KiB).
#    A stripped binary cannot symbolize a backtrace anyway. CROSS_PREBUILT_STD=1 goes back to
#    rustup's std where there is one; CROSS_STD_FEATURES=backtrace,panic-unwind keeps the symbolizer.
CROSS_STD_REQUIRED="armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-gnu"
CROSS_STD_FEATURES=${CROSS_STD_FEATURES:-panic-unwind}

is_known() { case " $CROSS_TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
is_box()   { case " $CROSS_BOX_TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
std_required() { case " $CROSS_STD_REQUIRED " in *" $1 "*) return 0 ;; esac; return 1; }
has_root() { case " $CROSS_ROOT_TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
# features TARGET: the cargo feature flags of tvmeshd for TARGET (empty: the default features).
features() { has_root "$1" || echo --no-default-features; }

# cross_release TARGET CARGO_ARGS...: a size-optimised release build (std from source; no unwind
# tables for box targets, cross/release.toml).
cross_release() {
    local t=$1; shift
    if [ "${CROSS_PREBUILT_STD:-0}" = 1 ] && ! std_required "$t"; then
        ${CARGO:-cargo} "$@" --config cross/config.toml --config cross/release.toml --target "$t"
    else
        RUSTC_BOOTSTRAP=1 ${CARGO:-cargo} "$@" --config cross/config.toml --config cross/release.toml \
            --target "$t" -Zbuild-std=std,panic_abort "-Zbuild-std-features=$CROSS_STD_FEATURES"
    fi
}

# cross_tests TARGET CARGO_ARGS...: tests, with rustup's std where there is one. Tests unwind
# (the test profile is panic=unwind), so a source-built std gets panic_unwind and the test crate.
cross_tests() {
    local t=$1; shift
    if std_required "$t"; then
        RUSTC_BOOTSTRAP=1 ${CARGO:-cargo} "$@" --config cross/config.toml --target "$t" \
            -Zbuild-std=std,panic_unwind,test
    else
        ${CARGO:-cargo} "$@" --config cross/config.toml --target "$t"
    fi
}
