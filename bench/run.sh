#!/usr/bin/env bash
# Start-up and listing benchmarks, side by side with crun, runc and podman when installed.
#   bench/run.sh            (as root; needs hyperfine and busybox-static)
# The systemd cgroup manager is measured in a systemd + cgroup v2 guest: bench/vm.sh.
# Everything runs inside one private mount namespace with /sys/fs/cgroup/unified unmounted,
# because crun refuses this host's hybrid cgroup layout otherwise; all tools see the same world.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /var/tmp/skiff-bench.XXXXXX)
trap 'for id in $($SKIFF $R ps -aq 2>/dev/null); do $SKIFF $R rm -f "$id" >/dev/null 2>&1; done; for n in $($SKIFF $R network ls -q 2>/dev/null); do $SKIFF $R network rm "$n" >/dev/null 2>&1; done; umount "$work/run" 2>/dev/null; rm -rf "$work"' EXIT
# The runtime dirs on a tmpfs, as /run is on every systemd host (this machine's /run is on its
# disk): skiff's runroot and crun's and runc's state alike.
mkdir -p "$work/run"
mount -t tmpfs -o mode=0711 tmpfs "$work/run"
R="--root $work/root --runroot $work/run/skiff"
contrib/busybox-rootfs.sh > "$work/rootfs.tar"
$SKIFF $R import - busybox < "$work/rootfs.tar" >/dev/null

# An OCI bundle of the same rootfs for crun and runc, running `true` without a terminal.
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/rootfs.tar"
cmds=(-n unshare "unshare -pmuin --fork true"
      -n "skiff run --rm" "$SKIFF $R run --rm --network none busybox true"
      -n "skiff run --rm seccomp=unconfined" "$SKIFF $R run --rm --network none --security-opt seccomp=unconfined busybox true"
      -n "skiff run --rm --cgroups disabled" "$SKIFF $R run --rm --network none --cgroups disabled busybox true"
      -n "skiff run --rm -m 64m --cpus 1 --pids-limit 100" "$SKIFF $R run --rm --network none -m 64m --cpus 1 --pids-limit 100 busybox true")
if command -v crun >/dev/null || command -v runc >/dev/null; then
    (cd "$work/bundle" && { command -v runc >/dev/null && runc spec || crun spec; })
    sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' "$work/bundle/config.json"
    # A second bundle whose spec carries skiff's built-in filter (docker's default profile
    # in effect), so crun and skiff are compared with the same seccomp work.
    cp -a "$work/bundle" "$work/bundle-seccomp"
    python3 - "$work/bundle-seccomp/config.json" "$(python3 bench/oci-seccomp.py src/ns/seccomp.rs)" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["linux"]["seccomp"] = json.loads(sys.argv[2])
json.dump(spec, open(sys.argv[1], "w"))
PY
    # crun places no cgroup on this hybrid host: compare with skiff's --cgroups disabled.
    if command -v crun >/dev/null; then
        cmds+=(-n "crun run (no seccomp)" "crun --root $work/run/crun --cgroup-manager=disabled run --bundle $work/bundle bench-crun")
        cmds+=(-n "crun run (docker's profile)" "crun --root $work/run/crun --cgroup-manager=disabled run --bundle $work/bundle-seccomp bench-crun2")
    fi
    command -v runc >/dev/null && cmds+=(-n "runc run" "runc --root $work/run/runc run --bundle $work/bundle bench-runc")
fi
# podman only when it can run here as it is (an image in its store; this machine's nofile
# limit needs a containers.conf, see the README of bench/).
if command -v podman >/dev/null && podman run --rm --network none docker.io/library/busybox true >/dev/null 2>&1; then
    cmds+=(-n "podman run --rm" "podman run --rm --network none docker.io/library/busybox true")
fi
echo "== run --rm ... true"
hyperfine -N -w 5 -r 50 "${cmds[@]}" --export-markdown "$work/start.md"
cat "$work/start.md"

# Moving a process into a v1 cgroup waits for an RCU grace period unless another move
# happened just before: back-to-back runs hide it, a run after a pause pays it (every
# runtime that uses cgroups does). This is what a single run in a script sees.
echo "== run --rm ... true, each after 300 ms idle"
hyperfine -N -r 30 --prepare "sleep 0.3" "${cmds[@]}" --export-markdown "$work/start-idle.md"
cat "$work/start-idle.md"

echo "== run -d (each run leaves a detached container; all removed at the end)"
hyperfine -N -w 3 -r 30 -n "skiff run -d" "$SKIFF $R run -d busybox sleep 600" --export-markdown "$work/detach.md"
cat "$work/detach.md"
for id in $($SKIFF $R ps -aq); do $SKIFF $R rm -f "$id" >/dev/null; done

echo "== ps -a with 100 containers (exited)"
for i in $(seq 100); do $SKIFF $R run busybox true >/dev/null; done
hyperfine -N -w 5 -r 50 -n "skiff ps -a (100)" "$SKIFF $R ps -a" --export-markdown "$work/ps.md"
cat "$work/ps.md"

echo "== resident memory of one detached monitor"
id=$($SKIFF $R run -d busybox sh -c 'while true; do echo tick; sleep 0.2; done')
sleep 2
pid=$($SKIFF $R inspect -f '{{.State.Pid}}' "$id")
monitor=$(awk '{print $4}' "/proc/$pid/stat")
grep -E '^(Rss|Pss):' "/proc/$monitor/smaps_rollup"

echo "== stats --no-stream and top (one running container)"
hyperfine -N -w 2 -r 10 -n "skiff stats --no-stream" "$SKIFF $R stats --no-stream $id" \
    -n "skiff top" "$SKIFF $R top $id" --export-markdown "$work/stats.md"
cat "$work/stats.md"

# Rootless rows, as an ordinary user (BENCH_USER, default the tests' skiff-test, with
# /etc/subuid ranges), beside rootless podman in the same hyperfine run when it works here.
# The default network is a bridge in the user's namespace with one pasta for all containers;
# that namespace outlives its last container by two seconds, so runs in a row share it (the
# first row of the cold pair waits that out before each run).
BU=${BENCH_USER:-skiff-test}
if id "$BU" >/dev/null 2>&1 && command -v pasta >/dev/null; then
    uw=$(mktemp -d /tmp/skiff-bench-rl.XXXXXX)
    chown "$BU" "$uw"
    cp "$SKIFF" "$uw/skiff" && chmod 0755 "$uw/skiff"
    cp "$work/rootfs.tar" "$uw/rootfs.tar" && chmod 0644 "$uw/rootfs.tar"
    US="$uw/skiff --root $uw/root --runroot $uw/run"
    as_user() { runuser -u "$BU" -- "$@"; }
    as_user $US import - busybox < "$uw/rootfs.tar" >/dev/null
    chmod 0666 /dev/net/tun 2>/dev/null || true
    ucmds=(-n "rootless skiff run --rm --network none" "$US run --rm --network none busybox true"
           -n "rootless skiff run --rm (default network)" "$US run --rm busybox true")
    if as_user podman import "$uw/rootfs.tar" localhost/bench-busybox >/dev/null 2>&1 &&
        as_user podman run --rm --network none localhost/bench-busybox true >/dev/null 2>&1; then
        ucmds+=(-n "rootless podman run --rm --network none" "podman run --rm --network none localhost/bench-busybox true"
                -n "rootless podman run --rm (default network)" "podman run --rm localhost/bench-busybox true")
    fi
    echo "== rootless run --rm ... true: default network against --network none"
    as_user hyperfine -N -w 5 -r 30 "${ucmds[@]}" --export-markdown "$uw/rootless.md"
    cat "$uw/rootless.md"
    echo "== rootless, cold: each run after the namespace's linger (a new namespace and pasta)"
    as_user hyperfine -N -r 10 --prepare "sleep 2.5" -n "rootless skiff run --rm (default network, cold)" \
        "$US run --rm busybox true" --export-markdown "$uw/rootless-cold.md"
    cat "$uw/rootless-cold.md"
    echo "== rootless: 20 x run -d, then rm -f of all 20, on the default network"
    cat > "$uw/twenty.sh" <<SH
for i in \$(seq 20); do $US run -d busybox sleep 600 >/dev/null; done
echo "pasta processes with 20 containers: \$(pgrep -u $BU -c -f "^pasta ")" >> $uw/pastas
$US rm -f \$($US ps -aq) >/dev/null
SH
    as_user hyperfine -N -r 5 -n "rootless skiff: 20 x run -d + rm -f" "bash $uw/twenty.sh" \
        --export-markdown "$uw/twenty.md"
    cat "$uw/twenty.md"
    sort "$uw/pastas" | uniq -c
    sleep 3
    as_user podman rmi localhost/bench-busybox >/dev/null 2>&1 || true
    kill "$(cut -d' ' -f1 "$uw/run/pause.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$uw"
fi
