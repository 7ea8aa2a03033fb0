#!/usr/bin/env bash
# Network start-up benchmarks (as root; needs hyperfine, nftables, busybox-static):
#   bench/net.sh
# `run --rm busybox true` with no network, on the default bridge, and on the bridge with a
# published port; `run -d -p` start latency; side by side with podman when installed.
# The store is a scratch one, so its bridge and nftables table have their own names and are
# removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: apt-get install hyperfine" >&2; exit 1; }
command -v nft >/dev/null || { echo "bench: apt-get install nftables" >&2; exit 1; }
cargo build --release -q
SKIFF=$PWD/target/release/skiff
work=$(mktemp -d /var/tmp/skiff-bench-net.XXXXXX)
R="--root $work/root --runroot $work/run"
cleanup() {
    for id in $($SKIFF $R ps -aq 2>/dev/null); do $SKIFF $R rm -f "$id" >/dev/null 2>&1; done
    for n in $($SKIFF $R network ls -q 2>/dev/null); do $SKIFF $R network rm "$n" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT
contrib/busybox-rootfs.sh | $SKIFF $R import - busybox >/dev/null
# The default network is made by the first run; not part of the measurement.
$SKIFF $R run --rm busybox true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cmds=(-n "skiff run --rm --network none" "$SKIFF $R run --rm --network none busybox true"
      -n "skiff run --rm (bridge)" "$SKIFF $R run --rm busybox true"
      -n "skiff run --rm -p (bridge)" "$SKIFF $R run --rm -p $port:80 busybox true")
if command -v podman >/dev/null; then
    cmds+=(-n "podman run --rm (bridge)" "podman run --rm docker.io/library/busybox true"
           -n "podman run --rm -p (bridge)" "podman run --rm -p $port:80 docker.io/library/busybox true")
fi
echo "== run --rm ... true"
hyperfine -N -w 5 -r 40 "${cmds[@]}" --export-markdown "$work/net.md"
cat "$work/net.md"

echo "== run -d -p (each leaves a container; all removed at the end)"
hyperfine -N -w 2 -r 20 -n "skiff run -d -p" \
    --prepare "sh -c '$SKIFF $R rm -f \$($SKIFF $R ps -aq) >/dev/null 2>&1 || true'" \
    "$SKIFF $R run -d -p $port:80 busybox sleep 600" --export-markdown "$work/detach.md"
cat "$work/detach.md"
