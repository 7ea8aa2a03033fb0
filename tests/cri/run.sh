#!/bin/bash
# Run one Kubernetes-style pod through containerd's built-in CRI plugin with an OCI runtime,
# as an automated check:  tests/cri/run.sh CONTAINERD_RUNTIME_BINARY
#
# CONTAINERD_RUNTIME_BINARY is what containerd-shim-runc-v2 runs in runc's place (BinaryName):
# a skiff-runc (skiff's `oci` mode) or, for parity, /usr/sbin/runc.
#
# Everything lives in one temp dir: the images (a busybox rootfs made by
# contrib/busybox-rootfs.sh, imported and saved by skiff in a private store), a private
# containerd (root, state, socket, runtime root; CRI with host network so no CNI, no TCP
# service, stream server on 127.0.0.1), a Python venv with grpcio, and the CRI stubs
# generated from tests/cri/api.proto. tests/cri/cri_pod.py then drives the pod.
# An EXIT trap stops containerd and any shim of it, unmounts what is under the temp dir,
# removes the pod's cgroup parent and the temp dir.
#
# Needs root, containerd 1.6 + containerd-shim-runc-v2 + ctr, python3, busybox-static and
# PyPI (or a pip cache/wheelhouse) for grpcio, grpcio-tools and protobuf.
# Environment:
#   SKIFF          skiff binary that makes the images (default: the runtime binary if it is
#                  skiff, else `skiff` on PATH)
#   CRI_PYTHON     a python3 that already has grpc and grpc_tools (skips the venv)
#   CRI_LOG_LEVEL  containerd's log level (default info)
#   CRI_KEEP_LOGS  a dir to copy containerd's log into (kept after the run)
# Exits 0 only if every step passed.
set -euo pipefail

usage() { echo "usage: $0 CONTAINERD_RUNTIME_BINARY" >&2; exit 2; }
[ $# -eq 1 ] || usage
# Absolute, but not through symlinks: skiff is skiff-runc by the name it is run as.
RUNTIME=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$RUNTIME" ] || { echo "cri: $1 is not an executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cri: needs root" >&2; exit 2; }
for tool in containerd ctr containerd-shim-runc-v2 python3 timeout; do
    command -v "$tool" >/dev/null || { echo "cri: $tool not found" >&2; exit 2; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${SKIFF:-}" ]; then
    if [ "$(basename "$(readlink -f "$RUNTIME")")" = skiff ]; then
        SKIFF=$(readlink -f "$RUNTIME")
    else
        SKIFF=$(command -v skiff) || { echo "cri: set SKIFF=/path/to/skiff (makes the images)" >&2; exit 2; }
    fi
fi
START=$(date +%s)
T=$(mktemp -d /tmp/skiff-cri.XXXXXX)
SOCK=$T/containerd.sock
CGPARENT=/$(basename "$T")           # the pod's cgroup parent, e.g. /skiff-cri.Ab12Cd
CTR=(timeout 120 ctr --address "$SOCK" --namespace k8s.io)
CONTAINERD_PID=
POD_PID=

say() { echo "cri: $*"; }

shim_pids() {
    # Shims of this containerd only: their command line names our socket.
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "containerd-shim.* -address $SOCK "; then
            basename "$p"
        fi
    done
}

cleanup() {
    local rc=$? p i left=0
    set +e
    if [ -n "$POD_PID" ] && kill -0 "$POD_PID" 2>/dev/null; then
        kill "$POD_PID"                  # timeout(1) passes it on; cri_pod.py then cleans up
        for i in $(seq 120); do kill -0 "$POD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$POD_PID" 2>/dev/null
        wait "$POD_PID" 2>/dev/null
    fi
    if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
        echo "---- containerd log (errors and warnings, last 60) ----" >&2
        grep -E 'level=(error|warning|fatal)' "$T/containerd.log" | tail -n 60 >&2
        echo "------------------------------------------------------" >&2
    fi
    if [ -n "${CRI_KEEP_LOGS:-}" ] && [ -f "$T/containerd.log" ]; then
        mkdir -p "$CRI_KEEP_LOGS" && cp "$T/containerd.log" "$CRI_KEEP_LOGS/"
    fi
    # Shims exit by themselves once their tasks are deleted; wait a little, then kill the rest.
    for i in $(seq 20); do [ -z "$(shim_pids)" ] && break; sleep 0.5; done
    p=$(shim_pids)
    if [ -n "$p" ]; then
        say "shim(s) still running after the test, killing: $p" >&2
        left=1
        # shellcheck disable=SC2086
        kill -9 $p 2>/dev/null
    fi
    if [ -n "$CONTAINERD_PID" ] && kill -0 "$CONTAINERD_PID" 2>/dev/null; then
        kill "$CONTAINERD_PID"
        for i in $(seq 40); do kill -0 "$CONTAINERD_PID" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$CONTAINERD_PID" 2>/dev/null
        wait "$CONTAINERD_PID" 2>/dev/null
    fi
    # Processes left in the pod's cgroups (only if the runtime failed to clean up).
    for p in $(find /sys/fs/cgroup/*"$CGPARENT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
        say "process $p left in the pod's cgroup, killing" >&2
        left=1
        kill -9 "$p" 2>/dev/null
    done
    # Unmount anything under the temp dir, deepest first.
    for i in 1 2 3; do
        awk -v t="$T" 'index($5, t"/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
            while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    done
    # The pod's cgroup parent in every hierarchy, deepest first (rmdir only removes empty ones).
    for d in /sys/fs/cgroup/*"$CGPARENT"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        if [ -d "$d" ]; then
            for i in $(seq 20); do sleep 0.25; find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; [ -d "$d" ] || break; done
            [ -d "$d" ] && { say "could not remove cgroup $d" >&2; left=1; }
        fi
    done
    rm -rf "$T"
    [ -e "$T" ] && { say "could not remove $T" >&2; left=1; }
    say "took $(( $(date +%s) - START ))s"
    if [ $rc -eq 0 ] && [ $left -ne 0 ]; then
        say "FAIL: the run left things behind (see above)" >&2
        rc=1
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# skiff is a runc only by the name it is run as: given the skiff binary itself, name it so.
if [ "$(basename "$RUNTIME")" = skiff ]; then
    mkdir -p "$T/bin"
    ln -s "$RUNTIME" "$T/bin/skiff-runc"
    RUNTIME=$T/bin/skiff-runc
fi
say "runtime $RUNTIME; skiff $SKIFF; temp dir $T"

# 1. Images: a busybox one and a pause one (busybox sleeping), from the same rootfs.
say "making images"
timeout 120 sh "$REPO/contrib/busybox-rootfs.sh" >"$T/rootfs.tar"
STORE=(--root "$T/skiff/root" --runroot "$T/skiff/run")
# CRI runs an image's process with the image's Env only: give them a PATH.
IMGPATH='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
timeout 120 "$SKIFF" "${STORE[@]}" import --change "$IMGPATH" --change 'CMD ["sh"]' \
    - busybox:latest <"$T/rootfs.tar" >/dev/null
timeout 120 "$SKIFF" "${STORE[@]}" import --change "$IMGPATH" \
    --change 'ENTRYPOINT ["sleep","2147483647"]' - localhost/skiff-pause:1 <"$T/rootfs.tar" >/dev/null
timeout 120 "$SKIFF" "${STORE[@]}" save -o "$T/busybox.tar" busybox:latest
timeout 120 "$SKIFF" "${STORE[@]}" save -o "$T/pause.tar" localhost/skiff-pause:1

# 2. containerd's config: everything private to the temp dir.
mkdir -p "$T/cni/bin" "$T/cni/conf" "$T/logs"
cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$SOCK"

[debug]
  level = "${CRI_LOG_LEVEL:-info}"

[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/skiff-pause:1"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Keep containers' oom_score_adj >= containerd's own: the sandbox's default is -998, and
  # lowering it needs CAP_SYS_RESOURCE, which a test host (itself a container) may lack.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$T/cni/bin"
    conf_dir = "$T/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$RUNTIME"
        Root = "$T/runtime-root"
        SystemdCgroup = false
EOF

# 3. containerd.
say "starting containerd"
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CONTAINERD_PID=$!
for i in $(seq 60); do
    [ -S "$SOCK" ] && timeout 5 ctr --address "$SOCK" version >/dev/null 2>&1 && break
    kill -0 "$CONTAINERD_PID" 2>/dev/null || { say "containerd exited:"; tail -n 30 "$T/containerd.log"; exit 1; }
    sleep 0.5
done
timeout 5 ctr --address "$SOCK" version >/dev/null || { say "containerd did not come up"; tail -n 30 "$T/containerd.log"; exit 1; }

"${CTR[@]}" images import "$T/busybox.tar" >/dev/null
"${CTR[@]}" images import "$T/pause.tar" >/dev/null
say "images: $("${CTR[@]}" images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

# 4. Python with grpcio, and the stubs, generated now from the committed proto.
PY=${CRI_PYTHON:-}
if [ -z "$PY" ]; then
    say "making a venv with grpcio, grpcio-tools, protobuf"
    timeout 120 python3 -m venv "$T/venv"
    timeout 600 "$T/venv/bin/pip" install --quiet --disable-pip-version-check grpcio grpcio-tools protobuf
    PY=$T/venv/bin/python
fi
mkdir -p "$T/stubs"
timeout 120 "$PY" -m grpc_tools.protoc -I"$HERE" --python_out="$T/stubs" --grpc_python_out="$T/stubs" "$HERE/api.proto"

# 5. The pod.
say "running the pod"
# In the background and waited for, so that a signal to this script is handled at once.
timeout -k 300 600 "$PY" "$HERE/cri_pod.py" --socket "$SOCK" --stubs "$T/stubs" \
    --image docker.io/library/busybox:latest --pause-process "sleep 2147483647" \
    --runtime-root "$T/runtime-root/k8s.io" --cgroup-parent "$CGPARENT" \
    --log-dir "$T/logs" --bundle-root "$T/state/io.containerd.runtime.v2.task/k8s.io" &
POD_PID=$!
rc=0
wait "$POD_PID" || rc=$?
POD_PID=
exit $rc
