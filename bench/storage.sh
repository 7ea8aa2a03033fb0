#!/usr/bin/env bash
# `run --rm` on each storage driver, side by side with podman on the same drivers when it is
# installed: the kernel's overlay (store on ext4), fuse-overlayfs (store on an overlayfs mount,
# as in a CI job's container) and the vfs copy driver.
#   bench/storage.sh        (as root; needs hyperfine, busybox-static, fuse-overlayfs)
# Runs in a private mount namespace with /sys/fs/cgroup/unified unmounted, as bench/run.sh.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /var/tmp/skiff-bench-storage.XXXXXX)
mkdir -p "$work"/{l,u,w,ovl}
mount -t overlay overlay -o "lowerdir=$work/l,upperdir=$work/u,workdir=$work/w" "$work/ovl"
cleanup() {
    for p in "$work" "$work/ovl"; do
        for r in "$p"/s-*; do
            [ -d "$r/root" ] || continue
            for id in $($SKIFF --root "$r/root" --runroot "$r/run" ps -aq 2>/dev/null); do
                $SKIFF --root "$r/root" --runroot "$r/run" rm -f "$id" >/dev/null 2>&1
            done
        done
    done
    command -v podman >/dev/null && for d in vfs fuse; do
        podman --root "$work/p-$d/root" --runroot "$work/p-$d/run" rm -af >/dev/null 2>&1
        podman --root "$work/p-$d/root" --runroot "$work/p-$d/run" rmi -af >/dev/null 2>&1
    done
    umount -R "$work/ovl" 2>/dev/null || true
    umount -R "$work"/p-* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
contrib/busybox-rootfs.sh > "$work/rootfs.tar"
store() { # store NAME BASE [FLAGS...]: a skiff store with busybox, printed as its flags
    local name=$1 base=$2
    shift 2
    local flags="--root $base/s-$name/root --runroot $base/s-$name/run $*"
    $SKIFF $flags import - busybox < "$work/rootfs.tar" >/dev/null
    echo "$flags"
}
S_OVERLAY=$(store overlay "$work")
S_FUSE=$(store fuse "$work/ovl")
S_VFS=$(store vfs "$work" --storage-driver vfs)
# Without cgroups on both sides: podman's crun cannot place containers on this hybrid host.
RUN="run --rm --network none --cgroups disabled"
cmds=(-n "skiff overlay" "$SKIFF $S_OVERLAY $RUN busybox true"
      -n "skiff fuse-overlayfs" "$SKIFF $S_FUSE $RUN busybox true"
      -n "skiff vfs" "$SKIFF $S_VFS $RUN busybox true")
if command -v podman >/dev/null; then
    $SKIFF $S_OVERLAY save -o "$work/busybox.tar" busybox
    for d in vfs fuse; do
        P="podman --root $work/p-$d/root --runroot $work/p-$d/run --cgroup-manager cgroupfs"
        if [ $d = vfs ]; then P="$P --storage-driver vfs"; else
            P="$P --storage-driver overlay --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs"; fi
        $P load -q -i "$work/busybox.tar" >/dev/null
        # Rootful podman here needs rlimits under this host's hard limits.
        cmds+=(-n "podman $d" "$P $RUN --ulimit nofile=10000:10000 --ulimit nproc=1000:1000 busybox true")
    done
fi
echo "== run --rm --network none busybox true, per storage driver"
hyperfine -N -w 3 -r 30 "${cmds[@]}" --export-markdown "$work/storage.md"
cat "$work/storage.md"
