#!/bin/bash
# Runs inside the VM, as root, from skiff-vm-test.service (see image.sh). /mnt/in is the second
# disk that tests/vm/run.sh made: skiff, busybox-rootfs.sh, this script (and bench-guest.sh).
# Writes TAP-like lines to /mnt/in/results.txt:
#   ok N - NAME  /  not ok N - NAME  followed by "#   " diagnostics (commands, exit codes, output)
# One function per check (t_*); `check NAME FUNC ARGS...` runs it in its own bash, bounded by
# timeout. Inside a check, `cap CMD...` runs CMD and keeps OUT, ERR and RC; `want_*` compare
# them and say what differed. A check passes only on the exact expected output.
set -u
cd /
export IN=/mnt/in
export RESULTS=$IN/results.txt
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export CHECK_TIMEOUT=${CHECK_TIMEOUT:-120}
export W=/var/tmp/vmt                      # scratch, readable by the test users
: > "$RESULTS"
mkdir -p "$W" && chmod 0755 "$W"
T0=$(date +%s)
N=0 PASS=0 FAIL=0

emit() { printf '%s\n' "$@" | tee -a "$RESULTS"; }

check() {
    local name=$1 log rc
    shift
    log=$(mktemp)
    N=$((N + 1))
    export -f $(compgen -A function)   # the check runs in a new bash (bench-guest.sh adds some)
    timeout -k 10 "$CHECK_TIMEOUT" bash -c '"$@"' check "$@" > "$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        PASS=$((PASS + 1))
        emit "ok $N - $name"
        sed -n 's/^NOTE /#   /p' "$log" | head -n 20 | tee -a "$RESULTS"
    else
        FAIL=$((FAIL + 1))
        emit "not ok $N - $name"
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && emit "#   timed out after ${CHECK_TIMEOUT}s"
        sed 's/^NOTE //; s/^/#   /' "$log" | head -n 40 | tee -a "$RESULTS"
    fi
    rm -f "$log"
    sync
}

# --- helpers used inside checks -------------------------------------------------------------
# cap CMD...: run CMD, keep stdout in OUT, stderr in ERR, exit code in RC; log all three.
cap() {
    local e
    e=$(mktemp)
    OUT=$("$@" 2> "$e")
    RC=$?
    ERR=$(cat "$e")
    rm -f "$e"
    echo "\$ ${*@Q} -> exit $RC"
    [ -z "$OUT" ] || printf '%s\n' "$OUT" | head -n 8 | sed 's/^/  out: /'
    [ -z "$ERR" ] || printf '%s\n' "$ERR" | head -n 8 | sed 's/^/  err: /'
    return 0
}
want_rc() {
    [ "$RC" = "$1" ] && return 0
    echo "FAIL: expected exit $1, got $RC"
    return 1
}
want_out() {
    [ "$OUT" = "$1" ] && return 0
    echo "FAIL: expected output '$1', got '$OUT'"
    return 1
}
# ok0 EXPECTED: exit 0 and exactly EXPECTED on stdout
ok0() { want_rc 0 && want_out "$1"; }
# until_ok SECONDS CMD...: retry CMD every 0.5 s until it succeeds
until_ok() {
    local end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.5
    done
}
# skiff_cgroups DIR: the skiff-* cgroups under DIR. Not counted: this test's own unit, and the
# scope of a rootless user's pause process (skiff-pause-PID.scope), which lives on by design.
skiff_cgroups() {
    find "$1" -name 'skiff-*' ! -path /sys/fs/cgroup/system.slice/skiff-vm-test.service \
        ! -name 'skiff-pause-*.scope' 2> /dev/null
}
no_skiff_cgroups() { [ -z "$(skiff_cgroups "$1")" ]; }
# seen RUNNER CONTAINER: note the cgroup a running container is in (for t_left)
seen() {
    local pid
    pid=$("$1" skiff inspect -f '{{.State.Pid}}' "$2" 2> /dev/null) && [ -r "/proc/$pid/cgroup" ] || return 0
    sed -n 's/^0:://p' "/proc/$pid/cgroup" >> "$W/seen-$1"
}
# t_left DIR RUNNER: no skiff-* cgroup under DIR (systemd may take a moment to collect a
# scope), and the cgroups that RUNNER's containers were seen in are gone. Not vacuous: some
# container must have been seen in a cgroup of its own (not the caller's) under DIR.
t_left() {
    local ok=0 cg
    [ -d "$1" ] || { echo "FAIL: $1 does not exist"; return 1; }
    [ -s "$W/seen-$2" ] || { echo "FAIL: no container of $2 was seen in a cgroup, nothing to check"; return 1; }
    echo "containers were seen in: $(sort -u "$W/seen-$2" | tr '\n' ' ')"
    until_ok 5 no_skiff_cgroups "$1" || { echo "FAIL: skiff cgroups left under $1:"; skiff_cgroups "$1"; ok=1; }
    find "$1" -name 'skiff-pause-*.scope' | sed 's/^/NOTE pause scope (not counted): /'
    for cg in $(sort -u "$W/seen-$2"); do
        [[ /sys/fs/cgroup$cg == "$1"/* ]] || { echo "FAIL: $cg is not under $1"; ok=1; }
        [[ $cg == */skiff-vm-test.service* ]] && { echo "FAIL: $cg is the test's own cgroup"; ok=1; }
        [ ! -d "/sys/fs/cgroup$cg" ] || { echo "FAIL: $cg still exists"; ok=1; }
    done
    return $ok
}

# The users. U: tester with its user manager's environment; US: from a terminal-like scope
# (where a desktop terminal's shell lives); UD: a delegated scope; USV: as a user service.
# NL: nolinger, who has no user manager at all.
U() {
    runuser -u tester -- env HOME=/home/tester XDG_RUNTIME_DIR=/run/user/1000 \
        DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus "$@"
}
US() { U systemd-run --user --scope --quiet -- "$@"; }
UD() { U systemd-run --user --scope --quiet -p Delegate=yes -- "$@"; }
USV() { U systemd-run --user --wait --pipe --quiet -- "$@"; }
NL() { runuser -u nolinger -- env -u XDG_RUNTIME_DIR -u DBUS_SESSION_BUS_ADDRESS HOME=/home/nolinger "$@"; }
place() { case $1 in scope) echo US ;; delegated) echo UD ;; service) echo USV ;; esac; }

# --- setup ------------------------------------------------------------------------------------
t_install() {
    cap install -m 0755 "$IN/skiff" /usr/local/bin/skiff
    want_rc 0 || return 1
    cap skiff --version
    echo "NOTE $OUT"
}
t_import() {   # t_import RUNNER: import the busybox image into RUNNER's store
    local tar=$W/busybox-rootfs.tar
    [ -s "$tar" ] || sh "$IN/busybox-rootfs.sh" > "$tar" || return 1
    cap "$@" skiff import --change 'CMD ["sh"]' "$tar" busybox
    want_rc 0 || return 1
    cap "$@" skiff run --rm busybox echo imported
    ok0 imported
}
wait_user_manager() {
    until_ok 90 test -S /run/user/1000/bus || { echo "FAIL: no /run/user/1000/bus"; return 1; }
    cap U timeout 60 systemctl --user is-system-running --wait
    [ "$OUT" = running ] || [ "$OUT" = degraded ] || return 1
    cap systemctl is-active user@1000.service
    ok0 active
}

# --- root -------------------------------------------------------------------------------------
t_info() {   # t_info RUNNER FIELD EXPECTED
    cap "$1" skiff info --format "{{.$2}}"
    ok0 "$3"
}
R() { "$@"; }
t_limits() {   # t_limits RUNNER
    cap "$1" skiff run --rm -m 32m --cpus 0.5 --pids-limit 50 busybox \
        cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max
    ok0 $'33554432\n50000 100000\n50'
}
t_cgroupns() {
    cap "$1" skiff run --rm busybox cat /proc/self/cgroup
    ok0 "0::/"
}
t_scope_exists() {
    cap skiff run -d --name s1 busybox sleep 100
    want_rc 0 || return 1
    cap skiff inspect -f '{{.Id}}' s1
    local id=$OUT
    [[ $id =~ ^[0-9a-f]{64}$ ]] || { echo "FAIL: no full id"; return 1; }
    cap systemctl is-active "skiff-$id.scope"
    ok0 active || return 1
    cap systemctl show -p ControlGroup --value "skiff-$id.scope"
    local cg=$OUT
    [ -n "$cg" ] && [ -d "/sys/fs/cgroup$cg" ] || { echo "FAIL: no cgroup directory '$cg'"; return 1; }
    echo "NOTE scope cgroup: $cg"
    seen R s1
    cap skiff inspect -f '{{.State.Pid}}' s1
    local pid=$OUT
    cap cat "/proc/$pid/cgroup"
    [[ $OUT == "0::$cg"* ]] || { echo "FAIL: container pid $pid is not in $cg"; return 1; }
}
t_scope_gone() {
    cap skiff inspect -f '{{.State.Running}}' s1
    ok0 true || { echo "FAIL: s1 should still be running"; return 1; }
    cap skiff rm -f s1
    want_rc 0 || return 1
    until_ok 5 no_skiff_cgroups /sys/fs/cgroup && return 0
    echo "FAIL: skiff cgroups left:"
    skiff_cgroups /sys/fs/cgroup
    return 1
}
t_oom() {   # t_oom RUNNER: the ulimit keeps an unlimited container from eating the VM
    local ok=0
    cap "$1" skiff run --name oom -m 16m busybox sh -c 'ulimit -v 262144; x=a; while true; do x=$x$x; done'
    want_rc 137 || ok=1
    cap "$1" skiff inspect -f '{{.State.OOMKilled}}' oom
    ok0 true || ok=1
    "$1" skiff rm -f oom > /dev/null 2>&1
    return $ok
}
t_update() {
    cap "$1" skiff run -d --name u1 -m 32m busybox sleep 100
    want_rc 0 || return 1
    cap "$1" skiff update -m 64m u1
    want_rc 0 || return 1
    seen "$1" u1
    cap "$1" skiff exec u1 cat /sys/fs/cgroup/memory.max
    ok0 67108864
}
# pause/unpause through cgroup v2's cgroup.freeze (this host's tests cover v1's freezer). The
# counter is read through /proc/PID/root while frozen (exec is refused then, as docker's).
t_pause() {
    local pid a b ok=0
    cap "$1" skiff run -d --name pz busybox sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new && mv /tmp/n.new /tmp/n; sleep 0.05; done'
    want_rc 0 || return 1
    sleep 0.5
    cap "$1" skiff inspect -f '{{.State.Pid}}' pz
    pid=$OUT
    [ -n "$pid" ] || { echo "FAIL: inspect gave no pid"; "$1" skiff rm -f pz > /dev/null 2>&1; return 1; }
    cap "$1" skiff pause pz
    want_rc 0 || ok=1
    cap "$1" skiff inspect -f '{{.State.Status}}' pz
    want_out paused || ok=1
    cap "$1" cat "/proc/$pid/root/tmp/n"
    a=$("$1" cat "/proc/$pid/root/tmp/n")
    sleep 1
    b=$("$1" cat "/proc/$pid/root/tmp/n")
    echo "counter $a, and $b a second later while paused"
    [ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: the counter ran while paused"; ok=1; }
    cap "$1" skiff unpause pz
    want_rc 0 || ok=1
    sleep 0.5
    [ "$("$1" cat "/proc/$pid/root/tmp/n")" -gt "$b" ] || { echo "FAIL: not running again"; ok=1; }
    "$1" skiff rm -f pz > /dev/null 2>&1
    return $ok
}
# inspect_is AS FORMAT CONTAINER WANT: `inspect -f FORMAT` prints exactly WANT.
inspect_is() { [ "$("$1" skiff inspect -f "$2" "$3" 2>/dev/null)" = "$4" ]; }
# A restart policy and a healthcheck carried out by the monitor, each run in a new scope.
t_restart_health() {
    local ok=0
    cap "$1" skiff run -d --name rs --restart on-failure:2 busybox sh -c 'exit 3'
    want_rc 0 || return 1
    until_ok 20 inspect_is "$1" '{{.State.Status}} {{.RestartCount}}' rs 'exited 2' || ok=1
    cap "$1" skiff inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' rs
    want_out "exited 2 3" || ok=1
    "$1" skiff rm rs > /dev/null 2>&1
    cap "$1" skiff run -d --name hc --health-cmd true --health-interval 300ms busybox sleep 60
    want_rc 0 || return 1
    until_ok 20 inspect_is "$1" '{{.State.Health.Status}}' hc healthy || ok=1
    cap "$1" skiff inspect -f '{{.State.Health.Status}}' hc
    want_out healthy || ok=1
    "$1" skiff rm -f hc > /dev/null 2>&1
    return $ok
}
t_stats() {
    local ok=0
    cap "$1" skiff stats --no-stream --format '{{.MemUsage}}' u1
    want_rc 0 || ok=1
    [[ $OUT =~ ^[0-9.]+[kKMG]?i?B\ /\ 64MiB$ ]] || { echo "FAIL: expected 'USAGE / 64MiB'"; ok=1; }
    "$1" skiff rm -f u1 > /dev/null 2>&1
    return $ok
}
fetch() { OUT=$(timeout 5 busybox wget -q -O- "$1" 2> /dev/null) && [ -n "$OUT" ]; }
# compose: a healthcheck-gated dependency and a published port, each container in its own
# scope; down leaves nothing.
t_compose() {   # t_compose RUNNER HOSTPORT DIR
    local ok=0 dir=$3
    mkdir -p "$dir"
    cat > "$dir/compose.yaml" <<EOF
services:
  db:
    image: busybox
    command: sh -c 'touch /tmp/ok; exec sleep 3600'
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 500ms, retries: 30}
  web:
    image: busybox
    command: httpd -f -p 80 -h /etc
    ports: ["127.0.0.1:$2:80"]
    depends_on: {db: {condition: service_healthy}}
EOF
    [ "$1" = R ] || chown -R tester: "$dir"
    cap "$1" skiff compose -f "$dir/compose.yaml" -p vmc up -d
    want_rc 0 || return 1
    cap "$1" skiff compose -f "$dir/compose.yaml" -p vmc ps --format '{{.Service}}'
    [ "$(echo "$OUT" | sort | tr '\n' ' ')" = "db web " ] || { echo "FAIL: ps: '$OUT'"; ok=1; }
    until_ok 20 fetch "http://127.0.0.1:$2/hostname" || { echo "FAIL: no answer on $2"; ok=1; }
    cap "$1" skiff compose -f "$dir/compose.yaml" -p vmc down -t 1
    want_rc 0 || ok=1
    cap "$1" skiff ps -aq
    want_out "" || ok=1
    return $ok
}
t_oci() {   # skiff-runc on cgroup v2: cgroupsPath, live update, freezer, the view inside, cleanup
    local ok=0 b=$W/oci r="skiff-runc --root $W/oci-state" cg=/sys/fs/cgroup/skiff-runc-vm/c1
    rm -rf "$b" && mkdir -p "$b/rootfs" && chmod 0755 "$b"
    tar -C "$b/rootfs" -xf "$W/busybox-rootfs.tar" || return 1
    ln -sf /usr/local/bin/skiff /usr/local/bin/skiff-runc
    (cd "$b" && skiff-runc spec) || return 1
    sed -i 's/^\( *\)"sh"$/\1"sleep", "300"/; s/^\( *\)"linux": {$/&\n\1  "cgroupsPath": "\/skiff-runc-vm\/c1",/' "$b/config.json"
    # create leaves the init on its stdio: not a pipe of ours, or reading it would never end.
    $r create --bundle "$b" c1 < /dev/null > "$W/oci.out" 2>&1 || { echo "FAIL: create"; cat "$W/oci.out"; return 1; }
    cap $r start c1
    want_rc 0 || ok=1
    cap $r update --memory 32m c1
    want_rc 0 || ok=1
    cap cat "$cg/memory.max"
    want_out 33554432 || ok=1
    cap $r exec c1 cat /sys/fs/cgroup/memory.max /proc/self/cgroup
    want_out "$(printf '33554432\n0::/')" || ok=1
    cap $r pause c1
    cap cat "$cg/cgroup.freeze"
    want_out 1 || ok=1
    cap $r resume c1
    cap $r kill c1 KILL
    until_ok 10 sh -c "$r state c1 | grep -q '\"stopped\"'" || { echo "FAIL: not stopped"; ok=1; }
    cap $r delete c1
    want_rc 0 || ok=1
    [ ! -d "$cg" ] || { echo "FAIL: $cg left"; ok=1; }
    rmdir /sys/fs/cgroup/skiff-runc-vm 2> /dev/null
    [ -z "$(ls "$W/oci-state")" ] || { echo "FAIL: state left"; ok=1; }
    return $ok
}
t_port() {   # t_port RUNNER HOSTPORT
    local ok=0 want
    cap "$1" skiff run -d --name web -p "127.0.0.1:$2:80" busybox httpd -f -p 80 -h /etc
    want_rc 0 || return 1
    cap "$1" skiff exec web cat /etc/hostname
    want=$OUT
    [ -n "$want" ] || { echo "FAIL: no hostname in the container"; ok=1; }
    until_ok 20 fetch "http://127.0.0.1:$2/hostname" || ok=1
    echo "fetched: '$OUT'"
    [ -n "$want" ] && [ "$OUT" = "$want" ] || { echo "FAIL: expected '$want' from the published port"; ok=1; }
    "$1" skiff rm -f web > /dev/null 2>&1
    return $ok
}
t_rootless_net() {   # tester's default network: a bridge in its namespace, one pasta beside the pause process
    local ok=0 ip holder pause
    cap US skiff run -d --name neta busybox httpd -f -p 80 -h /etc
    want_rc 0 || return 1
    cap US skiff inspect -f '{{.NetworkSettings.IPAddress}}' neta
    ip=$OUT
    cap US skiff run --rm busybox sh -c "ls /sys/class/net | tr '\n' ' '; wget -qO- http://$ip/hostname"
    case "$OUT" in "eth0 lo "?*) ;; *) echo "FAIL: expected eth0, lo and neta's hostname"; ok=1 ;; esac
    holder=$(pgrep -u tester -x skiff-netns | head -n 1)
    pause=$(pgrep -u tester -x skiff-pause | head -n 1)
    echo "holder $holder: $(cat /proc/$holder/cgroup 2> /dev/null); pause $pause: $(cat /proc/$pause/cgroup 2> /dev/null)"
    [ -n "$holder" ] && [ "$(cat /proc/$holder/cgroup)" = "$(cat /proc/$pause/cgroup)" ] ||
        { echo "FAIL: skiff-netns is not beside the pause process"; ok=1; }
    [ "$(pgrep -u tester -c -f '^pasta ')" = 1 ] || { echo "FAIL: expected one pasta"; ok=1; }
    US skiff rm -f neta > /dev/null 2>&1
    until_ok 10 sh -c '! pgrep -u tester -x skiff-netns > /dev/null' || { echo "FAIL: skiff-netns outlived its containers"; ok=1; }
    pgrep -u tester -f '^pasta ' > /dev/null && { echo "FAIL: pasta left"; ok=1; }
    return $ok
}
t_cgroupfs_true() { cap skiff --cgroup-manager cgroupfs run --rm busybox true; want_rc 0; }
t_cgroups_disabled() { cap skiff run --rm --cgroups disabled busybox true; want_rc 0; }
t_cgroupfs_mem() {
    cap skiff --cgroup-manager cgroupfs run --rm -m 32m busybox cat /sys/fs/cgroup/memory.max
    ok0 33554432
}
# Root in a cgroup namespace whose root cgroup holds other processes (a privileged CI
# container): a test cgroup is made the namespace's root, with a `sleep` in it beside skiff.
t_nested() {
    local cg=/sys/fs/cgroup/citest ok=0
    mkdir -p "$cg" || return 1
    cat > "$W/nested.sh" <<'EOF'
# In a new cgroup and mount namespace whose root is /sys/fs/cgroup/citest.
umount /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || exit 99
sleep 300 &
echo "in the namespace: $(cat /proc/self/cgroup); its root holds: $(tr '\n' ' ' < /sys/fs/cgroup/cgroup.procs)" >&2
skiff --cgroup-manager cgroupfs run --rm -m 32m busybox cat /sys/fs/cgroup/memory.max
rc=$?
kill $!
exit $rc
EOF
    cap sh -c 'echo $$ > /sys/fs/cgroup/citest/cgroup.procs && exec unshare --cgroup --mount --fork sh "$0"' "$W/nested.sh"
    ok0 33554432 || ok=1
    echo "cgroups made under $cg: $(find "$cg" -mindepth 1 -type d | tr '\n' ' ')"
    echo 1 > "$cg/cgroup.kill"
    sleep 0.5
    find "$cg" -depth -type d -exec rmdir {} + 2> /dev/null
    return $ok
}
t_missing() {   # t_missing EXPECTED_RC SKIFF_ARGS...
    local want=$1
    shift
    cap skiff "$@"
    want_rc "$want"
}

# --- rootless (tester) ------------------------------------------------------------------------
# t_user_place PLACE: from PLACE, a wrapper records its cgroup, that cgroup's type and
# subtree_control, runs `run --rm echo hi` and `run --rm -m 32m cat memory.max`, and records the
# cgroup again; the three checks below read what it wrote.
t_user_place() {
    local d=$W/$1
    rm -rf "$d" && install -d -o tester "$d" || return 1
    cap $(place "$1") /usr/local/bin/skiff-cgwrap "$d"
    [ -s "$d/hi.rc" ] || { echo "FAIL: the wrapper did not run skiff"; return 1; }
    RC=$(cat "$d/hi.rc") OUT=$(cat "$d/hi.out")
    cat "$d/hi.err"
    ok0 hi
}
t_user_place_mem() {
    local d=$W/$1
    [ -s "$d/mem.rc" ] || { echo "FAIL: the wrapper did not run skiff"; return 1; }
    RC=$(cat "$d/mem.rc") OUT=$(cat "$d/mem.out")
    cat "$d/mem.err"
    ok0 33554432
}
t_user_place_cgroup() {
    local d=$W/$1 suffix=.scope
    [ "$1" = service ] && suffix=.service
    [ -s "$d/before" ] && [ -s "$d/after" ] || { echo "FAIL: the wrapper recorded nothing"; return 1; }
    [ "$(cat "$d/hi.out")" = hi ] || { echo "FAIL: skiff ran no container from there, nothing to compare"; return 1; }
    echo "before: $(cat "$d/before")"
    echo "after:  $(cat "$d/after")"
    grep -q "^cgroup=/user.slice/user-1000.slice/user@1000.service/.*$suffix type=domain subtree=\[\]$" "$d/before" ||
        { echo "FAIL: the wrapper did not start in a $suffix with an empty subtree_control"; return 1; }
    cmp -s "$d/before" "$d/after" || { echo "FAIL: the calling cgroup changed"; return 1; }
    echo "NOTE $(cat "$d/after")"
}
det_running() { [ "$(US skiff inspect -f '{{.State.Running}}' det 2> /dev/null)" = true ]; }
t_detach_start() {
    U systemd-run --user --scope --unit=term1 -- \
        sh -c 'skiff run -d --name det busybox sh -c "echo started; exec sleep 1000"; exec sleep 1000' \
        > "$W/term1.log" 2>&1 < /dev/null &
    until_ok 60 det_running || { echo "FAIL: det is not running"; cat "$W/term1.log"; return 1; }
    cap U systemctl --user stop term1.scope
    want_rc 0 || return 1
    sleep 1
    cap US skiff ps --filter name=det --format '{{.Status}}'
    want_rc 0 && [[ $OUT == Up* ]] || { echo "FAIL: det is not Up after its terminal's scope stopped"; return 1; }
}
t_detach_exec() { cap US skiff exec det echo alive; ok0 alive; }
t_detach_logs() { cap US skiff logs det; ok0 started; }
t_detach_stop() {
    det_running || { echo "FAIL: det is not running"; return 1; }
    cap US skiff stop -t 1 det
    want_rc 0 || return 1
    cap US skiff inspect -f '{{.State.Running}}' det
    ok0 false || return 1
    cap US skiff rm det
    want_rc 0 || return 1
    cap US skiff inspect det
    [ "$RC" -ne 0 ] || { echo "FAIL: det is still there after rm"; return 1; }
}

# --- nolinger (no user manager) ---------------------------------------------------------------
t_nolinger_pre() {
    [ ! -e /run/user/1001/bus ] || { echo "FAIL: nolinger has a user bus"; return 1; }
    cap systemctl is-active user@1001.service
    [ "$OUT" != active ] || { echo "FAIL: user@1001.service is active"; return 1; }
}
t_nolinger_run() {
    cap NL skiff run --rm busybox echo hi
    [ -z "$ERR" ] || echo "NOTE stderr: $ERR"
    ok0 hi
}
t_nolinger_limit() {
    cap NL skiff run --rm -m 32m busybox true
    echo "NOTE stderr: $ERR"
    want_rc 125 || return 1
    [ -n "$ERR" ] && [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] ||
        { echo "FAIL: expected a one-line error"; return 1; }
    [[ $ERR == *cgroup* ]] || { echo "FAIL: the error does not mention cgroup"; return 1; }
}

cleanup_all() {
    local r
    for r in R US NL; do
        for id in $($r skiff ps -aq 2> /dev/null); do $r skiff rm -f "$id" > /dev/null 2>&1; done
    done
}

# The wrapper for the rootless "where am I called from" checks (see t_user_place).
cat > /usr/local/bin/skiff-cgwrap <<'EOF'
#!/bin/sh
d=$1
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
state() {
    echo "cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup) type=$(cat "/sys/fs/cgroup$cg/cgroup.type" 2>&1) subtree=[$(cat "/sys/fs/cgroup$cg/cgroup.subtree_control" 2>&1)]"
}
state > "$d/before"
timeout 60 skiff run --rm busybox echo hi > "$d/hi.out" 2> "$d/hi.err"; echo $? > "$d/hi.rc"
timeout 60 skiff run --rm -m 32m busybox cat /sys/fs/cgroup/memory.max > "$d/mem.out" 2> "$d/mem.err"
echo $? > "$d/mem.rc"
state > "$d/after"
EOF
chmod 0755 /usr/local/bin/skiff-cgwrap

# --- the run ----------------------------------------------------------------------------------
emit "# guest: $(uname -r), $(systemctl --version | head -n1), $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup"
emit "# guest: tests start $(cut -d' ' -f1 /proc/uptime) s after boot"
emit "# guest: root cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
emit "# guest: default route: $(ip -4 route show default)"
mode=$(cat "$IN/mode" 2> /dev/null || echo check)

check "setup: install skiff" t_install
check "setup: user manager of tester is up" wait_user_manager
emit "# guest: user@1000.service cgroup.controllers: $(cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers 2>&1)"
emit "# guest: user@1000.service cgroup.subtree_control: $(cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.subtree_control 2>&1)"
check "setup: import busybox as root" t_import R
check "setup: import busybox as tester" t_import US
check "setup: import busybox as nolinger" t_import NL

if [ "$mode" = bench ]; then
    . "$IN/bench-guest.sh"
else
    check "root: info CgroupDriver is systemd" t_info R CgroupDriver systemd
    check "root: info CgroupVersion is 2" t_info R CgroupVersion 2
    check "root: -m 32m --cpus 0.5 --pids-limit 50 seen inside" t_limits R
    check "root: /proc/self/cgroup inside is 0::/" t_cgroupns R
    check "root: a running container has its skiff-<id>.scope" t_scope_exists
    check "root: no skiff-* cgroup left after rm -f" t_scope_gone
    check "root: OOM kill exits 137 and sets OOMKilled" t_oom R
    check "root: update -m 64m reaches memory.max" t_update R
    check "root: stats shows the 64MiB limit" t_stats R
    check "root: pause freezes and unpause thaws (cgroup.freeze)" t_pause R
    check "root: on-failure:2 restarts twice; a healthcheck turns healthy" t_restart_health R
    check "root: -p 127.0.0.1:18080:80 serves" t_port R 18080
    check "root: compose up -d (healthy dependency, port), ps, down" t_compose R 18082 /tmp/compose-root
    check "root: skiff-runc: cgroupsPath, update, freezer, cgroup view, delete" t_oci
    check "root: --cgroup-manager cgroupfs runs" t_cgroupfs_true
    check "root: --cgroups disabled runs" t_cgroups_disabled
    check "root: --cgroup-manager cgroupfs -m 32m seen inside" t_cgroupfs_mem
    check "root: cgroupfs in a cgroup namespace whose root holds processes" t_nested
    check "root: no skiff-* cgroup left after the root checks" t_left /sys/fs/cgroup R
    check "root: rm -f no-such-container exits 0" t_missing 0 rm -f no-such-container
    check "root: rm no-such-container exits 1" t_missing 1 rm no-such-container
    check "root: stop no-such-container exits 1" t_missing 1 stop no-such-container

    for p in scope delegated service; do
        check "tester $p: run --rm busybox echo hi" t_user_place $p
        check "tester $p: -m 32m seen inside" t_user_place_mem $p
        check "tester $p: the calling cgroup is unchanged (domain, no subtree_control)" t_user_place_cgroup $p
    done
    check "tester: info CgroupDriver is systemd" t_info US CgroupDriver systemd
    check "tester: run -d from a terminal scope, the scope stopped, ps says Up" t_detach_start
    check "tester: exec in the detached container" t_detach_exec
    check "tester: logs of the detached container" t_detach_logs
    check "tester: stop -t 1 and rm the detached container" t_detach_stop
    check "tester: -m 32m --cpus 0.5 --pids-limit 50 seen inside" t_limits US
    check "tester: /proc/self/cgroup inside is 0::/" t_cgroupns US
    check "tester: OOM kill exits 137 and sets OOMKilled" t_oom US
    check "tester: update -m 64m reaches memory.max" t_update US
    check "tester: stats shows the 64MiB limit" t_stats US
    check "tester: pause freezes and unpause thaws (cgroup.freeze)" t_pause US
    check "tester: on-failure:2 restarts twice; a healthcheck turns healthy" t_restart_health US
    check "tester: -p 127.0.0.1:18081:80 serves" t_port US 18081
    check "tester: default network is a bridge; one pasta, beside the pause process, gone after" t_rootless_net
    check "tester: compose up -d (healthy dependency, port), ps, down" t_compose US 18083 /tmp/compose-tester
    check "tester: no skiff-* cgroup left under user-1000.slice" t_left /sys/fs/cgroup/user.slice/user-1000.slice US

    check "nolinger: has no user manager (precondition)" t_nolinger_pre
    check "nolinger: run --rm busybox echo hi works" t_nolinger_run
    check "nolinger: run -m 32m exits 125 with a one-line cgroup error" t_nolinger_limit
fi

cleanup_all
emit "# guest: $N checks in $(($(date +%s) - T0)) s"
emit "# guest: finished"
sync
exit 0
