#!/usr/bin/env bash
# skiff as an OCI runtime, side by side with runc and crun in one hyperfine run each:
#   1. `<runtime> run` of a bare bundle running `true` (no terminal, no seccomp, one cgroup);
#   2. `ctr run --rm` of busybox `true` under a private containerd, --runc-binary skiff-runc
#      vs runc (the shim, containerd and ctr cost the same for both).
#   bench/oci.sh            (as root; needs hyperfine, containerd, busybox-static)
# crun places no cgroup on this hybrid host (see lib.sh), so in (1) every runtime is asked
# for none: the bundle has no cgroupsPath and skiff-runc and runc place the init in one
# anyway; crun runs with --cgroup-manager=disabled.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /var/tmp/skiff-bench-oci.XXXXXX)
ctrd_pid=
cleanup() {
    if [ -n "$ctrd_pid" ]; then
        for t in $(ctr --address "$work/ctrd.sock" -n bench task ls -q 2>/dev/null); do
            ctr --address "$work/ctrd.sock" -n bench task rm -f "$t" >/dev/null 2>&1 || true
        done
        kill "$ctrd_pid" 2>/dev/null || true
        wait "$ctrd_pid" 2>/dev/null || true
    fi
    umount "$work/run" 2>/dev/null || true
    rm -rf "$work"
    rmdir /sys/fs/cgroup/*/bench/* /sys/fs/cgroup/*/bench 2>/dev/null || true
}
trap cleanup EXIT
# Runtime state on a tmpfs, as /run is on every systemd host.
mkdir -p "$work/run"
mount -t tmpfs -o mode=0711 tmpfs "$work/run"
ln -s "$SKIFF" "$work/skiff-runc"
RUNC=$work/skiff-runc

contrib/busybox-rootfs.sh > "$work/rootfs.tar"
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/rootfs.tar"
(cd "$work/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' "$work/bundle/config.json"

cmds=(-n "skiff-runc run" "$RUNC --root $work/run/skiff run --bundle $work/bundle b-skiff"
      -n "runc run" "runc --root $work/run/runc run --bundle $work/bundle b-runc")
command -v crun >/dev/null &&
    cmds+=(-n "crun run" "crun --root $work/run/crun --cgroup-manager=disabled run --bundle $work/bundle b-crun")
echo "== <runtime> run of a bundle running true"
hyperfine -N -w 5 -r 50 "${cmds[@]}" --export-markdown "$work/bundle.md"
cat "$work/bundle.md"

if command -v containerd >/dev/null; then
    cat > "$work/ctrd.toml" <<EOF
version = 2
root = "$work/ctrd-root"
state = "$work/run/ctrd-state"
[grpc]
  address = "$work/ctrd.sock"
[ttrpc]
  address = "$work/ctrd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
EOF
    containerd --config "$work/ctrd.toml" >"$work/ctrd.log" 2>&1 &
    ctrd_pid=$!
    for _ in $(seq 100); do ctr --address "$work/ctrd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    mkdir -p "$work/store"
    $SKIFF --root "$work/store/root" --runroot "$work/store/run" import --change 'CMD ["sh"]' - busybox < "$work/rootfs.tar" >/dev/null
    $SKIFF --root "$work/store/root" --runroot "$work/store/run" save -o "$work/busybox.tar" busybox
    ctr --address "$work/ctrd.sock" -n bench images import "$work/busybox.tar" >/dev/null
    ctr_run="ctr --address $work/ctrd.sock -n bench run --rm"
    echo "== ctr run --rm busybox true (containerd $(containerd --version | awk '{print $3}'))"
    hyperfine -N -w 3 -r 30 \
        -n "ctr run, skiff-runc" "$ctr_run --runc-binary $RUNC docker.io/library/busybox:latest c-skiff true" \
        -n "ctr run, runc" "$ctr_run docker.io/library/busybox:latest c-runc true" \
        --export-markdown "$work/ctr.md"
    cat "$work/ctr.md"
fi
