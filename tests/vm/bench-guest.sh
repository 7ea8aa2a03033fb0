# Sourced by guest.sh in bench mode (tests/vm/run.sh --bench, bench/vm.sh), after skiff is
# installed and busybox imported as root and as tester; uses guest.sh's check/cap/emit helpers.
# One hyperfine run, side by side: `skiff run --rm --network none busybox true` as root with the
# systemd manager, cgroupfs and --cgroups disabled, the same three rootless, and rootless podman
# with the same rootfs. hyperfine runs inside a scope of tester's user manager (where a
# terminal's shell lives), so the rootless runs start from where a user's would; the root runs
# start from the same place. A command that fails once beforehand is left out (and reported).
export B=$W/bench
mkdir -p "$B" && chmod 0755 "$B"
UENV="runuser -u tester -- env HOME=/home/tester XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"

t_podman_import() {
    cap US podman import --change 'CMD ["sh"]' "$W/busybox-rootfs.tar" localhost/busybox
    want_rc 0 || return 1
    cap US podman run --rm --network none --cgroup-manager systemd localhost/busybox echo imported
    ok0 imported
    cap US podman version --format '{{.Client.Version}}'
    echo "NOTE podman $OUT"
}
check "bench setup: podman import busybox as tester" t_podman_import

names=("root: skiff run"
    "root: skiff --cgroup-manager cgroupfs run"
    "root: skiff run --cgroups disabled"
    "rootless: runuser (the wrapper alone)"
    "rootless: skiff run"
    "rootless: skiff --cgroup-manager cgroupfs run"
    "rootless: skiff run --cgroups disabled"
    "rootless: podman run --cgroup-manager systemd")
cmds=("skiff run --rm --network none busybox true"
    "skiff --cgroup-manager cgroupfs run --rm --network none busybox true"
    "skiff run --rm --network none --cgroups disabled busybox true"
    "$UENV true"
    "$UENV skiff run --rm --network none busybox true"
    "$UENV skiff --cgroup-manager cgroupfs run --rm --network none busybox true"
    "$UENV skiff run --rm --network none --cgroups disabled busybox true"
    "$UENV podman run --rm --network none --cgroup-manager systemd localhost/busybox true")

# The scope hyperfine runs in: a user scope kept open by a sleep; root joins it.
U systemd-run --user --scope --unit=bench-term -- sleep 3600 > /dev/null 2>&1 < /dev/null &
until_ok 30 test -n "$(U systemctl --user show -p ControlGroup --value bench-term.scope 2> /dev/null)"
export BENCH_CG=/sys/fs/cgroup$(U systemctl --user show -p ControlGroup --value bench-term.scope)
in_bench_scope() { echo $$ > "$BENCH_CG/cgroup.procs" && exec "$@"; }
export -f in_bench_scope

t_preflight() {   # t_preflight COMMAND: it must succeed once before it is timed
    cap in_bench_scope sh -c "$1"
    want_rc 0
}
hf=()
for i in "${!names[@]}"; do
    check "bench preflight: ${names[$i]}" t_preflight "${cmds[$i]}"
    if tail -n 40 "$RESULTS" | grep -q "^ok $N - "; then
        hf+=(-n "${names[$i]}" "${cmds[$i]}")
    fi
done

t_hyperfine() {
    cap in_bench_scope hyperfine -N -w 5 -r 30 --style basic --export-markdown "$B/start.md" "$@"
    want_rc 0 && [ -s "$B/start.md" ]
}
CHECK_TIMEOUT=1200 check "bench: hyperfine, $((${#hf[@]} / 3)) commands, -w 5 -r 30" t_hyperfine "${hf[@]}"
emit "" "## run --rm --network none busybox true (qemu TCG guest, 2 vCPUs)" ""
[ -s "$B/start.md" ] && tee -a "$RESULTS" < "$B/start.md"
emit ""

# D-Bus traffic of one run. skiff talks to systemd's private socket (/run/systemd/private, or
# the user manager's), which no bus monitor sees: strace counts its writes there instead (the
# SASL handshake's lines included) and which Manager methods they name.
t_dbus_count() {   # t_dbus_count root|tester
    local t=/tmp/strace-$1.log env=() inodes sends methods
    [ "$1" = tester ] && env=(-E XDG_RUNTIME_DIR=/run/user/1000 -E HOME=/home/tester)
    cap strace -f -yy -s 512 -u "$1" "${env[@]}" -e trace=connect,sendmsg,sendto,write,writev \
        -o "$t" skiff run --rm --network none busybox true
    want_rc 0 || return 1
    inodes=$(grep -E 'connect\([0-9]+<UNIX-STREAM:\[[0-9]+\]>, \{sa_family=AF_UNIX, sun_path="[^"]*systemd/private"' "$t" |
        sed -E 's/.*UNIX-STREAM:\[([0-9]+)\].*/\1/' | paste -sd'|')
    [ -n "$inodes" ] || { echo "FAIL: no connection to systemd's private socket seen"; return 1; }
    sends=$(grep -E "(sendmsg|sendto|write|writev)\([0-9]+<UNIX-STREAM:\[($inodes)->" "$t")
    methods=$(printf '%s\n' "$sends" | grep -oE '(Start|Stop|Kill|Get|Set|Reset|Subscribe|Unsubscribe|Attach|Abandon|Ref|Unref)[A-Z][A-Za-z]*' |
        sort | uniq -c | sort -rn | awk '{printf "%s x%s, ", $2, $1}')
    echo "NOTE $(printf '%s\n' "$inodes" | tr '|' '\n' | wc -l) connection(s) to systemd's private socket, $(printf '%s\n' "$sends" | grep -c .) writes (SASL lines included); methods named: ${methods%, }"
}
if command -v strace > /dev/null; then
    check "bench: D-Bus traffic of one root run" t_dbus_count root
    check "bench: D-Bus traffic of one rootless run" t_dbus_count tester
fi
U systemctl --user stop bench-term.scope > /dev/null 2>&1
