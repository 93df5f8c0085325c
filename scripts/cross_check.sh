#!/usr/bin/env bash
# Type-checks and lints the crate for the systems it supports but this machine may not run: 64-bit ARM
# macOS (the portable POSIX backend of src/sys/) and 64-bit ARM Linux (the Linux backend).
#
# Without the built-in functions (`--no-default-features`) the crate is pure Rust and needs only the
# target's standard library. The built-ins need a C compiler for the target (the `ring` crate's C and
# assembly): for ARM Linux they are checked too when `aarch64-linux-gnu-gcc` is installed (Debian:
# gcc-aarch64-linux-gnu); for macOS no cross C compiler is expected, so they are not checked.
#
# Where qemu-user is installed, the Rust tests of the ARM Linux build also run, under emulation.
#
# Installs the rustup targets when missing; a target that cannot be installed is skipped with a message.
# Exits non-zero if any check that ran failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() { printf '\n== %s\n' "$*"; }
run() {
    echo "+ $*"
    "$@" || failed+=("$*")
}

# Whether the standard library for target $1 is there, installing it if it can be.
have_target() {
    if ! command -v rustup >/dev/null 2>&1; then
        # Without rustup, the toolchain may still carry the target; a check will tell.
        rustc --print target-libdir --target "$1" >/dev/null 2>&1 && return 0
        echo "skipped: no rustup to install the $1 target"
        return 1
    fi
    if rustup target list --installed 2>/dev/null | grep -qx "$1"; then
        return 0
    fi
    echo "installing the $1 target"
    if rustup target add "$1"; then
        return 0
    fi
    echo "skipped: the $1 target is not installed and could not be (offline?): rustup target add $1"
    return 1
}

# The library (and its unit tests) without the built-ins, and a daemon built on it, for target $1.
check_without_builtins() {
    local target=$1
    run cargo check --locked --target "$target" -p shmcall --no-default-features --lib
    run cargo clippy --locked --target "$target" -p shmcall --no-default-features --lib --tests -- -D warnings
    run cargo clippy --locked --target "$target" -p custom_daemon -- -D warnings
}

macos=aarch64-apple-darwin
step "$macos: the portable POSIX backend"
if have_target "$macos"; then
    check_without_builtins "$macos"
    echo "not checked for $macos: the built-in functions (default features), whose ring crate needs a C"
    echo "compiler for macOS, which this machine has not"
fi

linux=aarch64-unknown-linux-gnu
step "$linux: the Linux backend"
if have_target "$linux"; then
    check_without_builtins "$linux"
    if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
        export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
        run cargo check --locked --target "$linux" -p shmcall --lib --bins
        run cargo clippy --locked --target "$linux" -p shmcall --all-targets -- -D warnings
        step "$linux: the Rust tests, run under emulation"
        if command -v qemu-aarch64 >/dev/null 2>&1; then
            # Skipped there: the huge-page tests (the emulator takes madvise as a no-op, so nothing
            # becomes huge) and the two loom tests that re-run this test binary as a child process
            # (the host cannot start an ARM executable itself).
            CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
                CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
                run cargo test --locked --release --target "$linux" --target-dir target-arm -p shmcall --lib --test tests \
                -- --skip make_huge_backs --skip a_large_block_gets_huge_pages \
                --skip the_models_fail_when_an_ordering_is_weakened \
                --skip a_channel_thread_that_gave_up_on_a_busy_lock_would_lose_the_request
        else
            echo "not run for $linux: the Rust tests, which need qemu-user (Debian: apt-get install qemu-user)"
        fi
    else
        echo "not checked for $linux: the built-in functions (default features), whose ring crate needs"
        echo "aarch64-linux-gnu-gcc (Debian: apt-get install gcc-aarch64-linux-gnu)"
    fi
fi

if [ ${#failed[@]} -gt 0 ]; then
    step "failed"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
step "cross checks passed"
