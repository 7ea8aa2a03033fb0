#!/usr/bin/env bash
# Start-up benchmark in a systemd + pure cgroup v2 guest (qemu): `skiff run --rm busybox true`
# as root and rootless with each cgroup manager, beside rootless podman, in one hyperfine run.
#   bench/vm.sh        (as root; SKIFF_BIN picks the binary, default target/debug/skiff)
# See tests/vm/README.md. The numbers are from a TCG-emulated guest: compare rows, not hosts.
exec "$(dirname "$0")/../tests/vm/run.sh" --bench "$@"
