# Cross builds, board images and emulated tests. Included by the top-level Makefile.
# docs/CROSS.md explains each target.
#
#   make cross-deps            install toolchains, qemu, kernels, busybox (idempotent, ~1 s when done)
#   make cross                 static tvmeshd for every target + size table (fails over the budget)
#   make cross TARGET=triple   one target
#   make cross-test            `make cross`, then tvmesh-core's unit tests under qemu-user
#                              (aarch64, armv7, mipsel, mips)
#   make rootfs                initramfs of the three emulated boxes (target/rootfs/*.cpio.gz)
#   make qemu-test             boots the three boxes against a root on the host (tests/qemu/run.py)
#   make qemu-test BOXES=qemu-armv7-virt   one box

CROSS_BOXES := qemu-aarch64-virt qemu-armv7-virt qemu-mipsel-malta
BOXES ?= $(CROSS_BOXES)
TARGET ?=
CARGO ?= cargo
CROSS_BUDGET_KIB ?= 600
export CROSS_BUDGET_KIB

.PHONY: cross-deps cross cross-test rootfs qemu-test

cross-deps:
	@cross/deps.sh

cross: cross-deps
	cross/build.sh $(TARGET)

cross-test: cross
	cross/test.sh

# The box binaries each image needs (their triples come from board/<box>.conf), then the images.
rootfs: cross-deps
	cross/build.sh $(sort $(foreach b,$(BOXES),$(shell sed -n 's/^target *= *\([^ #]*\).*/\1/p' board/$(b).conf)))
	@for b in $(BOXES); do rootfs/build.sh $$b || exit 1; done

# The root runs on the host: the host's own release build.
qemu-test: rootfs
	$(CARGO) build --release -p tvmeshd
	python3 tests/qemu/run.py $(BOXES)
