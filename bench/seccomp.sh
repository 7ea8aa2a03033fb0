#!/usr/bin/env bash
# What attaching the default seccomp filter costs, apart from the rest of a start:
#   bench/seccomp.sh        (as root; needs cc)
# Compiles bench/seccomp-attach.c, lets skiff compile and cache its filter in a scratch
# runtime dir, then times 50 attaches of the cached programs (flags 0, and 4 =
# SECCOMP_FILTER_FLAG_SPEC_ALLOW).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/attach" bench/seccomp-attach.c
contrib/busybox-rootfs.sh > "$work/rootfs.tar"
R="--root $work/root --runroot $work/run"
target/release/skiff $R import - busybox < "$work/rootfs.tar" >/dev/null
target/release/skiff $R run --rm --network none busybox true
for f in "$work"/run/seccomp/*.bpf; do
    "$work/attach" "$f" 0
    "$work/attach" "$f" 4
done
