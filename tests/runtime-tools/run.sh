#!/bin/bash
# Run the OCI runtime-tools validation programs (opencontainers/runtime-tools, validation/*)
# against an OCI runtime with runc's command line, e.g.
#
#   tests/runtime-tools/run.sh /usr/sbin/runc
#   tests/runtime-tools/run.sh /var/tmp/skiff-snap/skiff-runc /var/tmp/rt-skiff
#
# One line per program: `PASS name`, `FAIL name (n/m tap lines not ok)` or `SKIP name (reason)`,
# then `runtime-tools: N passed, N failed, N skipped`. The TAP and stderr of each program go to
# OUTDIR (default /var/tmp/skiff-runtime-tools/results/<runtime>-<time>). Exit 0 when nothing
# failed, 1 when something did, 2 when the suite could not be built.
#
# Built once, offline (vendored Go modules, Debian's golang-go 1.19), and cached under
# $RT_CACHE (/var/tmp/skiff-runtime-tools). The source is runtime-tools at $RT_COMMIT (the last
# upstream commit that builds with Go 1.19; Debian's golang-github-opencontainers-runtime-tools-dev
# ships only the library, not validation/), taken from, in this order: $RUNTIME_TOOLS_SRC (a
# checkout or a git repository), the cache, or a git mirror of the repository at
# /work/.mirror/opencontainers+runtime-tools/repo.
#
# Needs root. Each program gets $RT_TIMEOUT seconds (60). $RT_TESTS, a space-separated list
# of program names, runs only those. $RT_STATE_ROOT overrides the runtime's default state
# directory (/run/<runtime name>: /run/runc, /run/skiff-runc), where the programs' containers
# are. The bundles go to a private TMPDIR. After each program, the containers it left there
# are deleted (`RUNTIME delete --force ID`), the processes it left are killed, the mounts
# under the TMPDIR are unmounted and the cgroup directories it made are removed once empty;
# cleanup.log in OUTDIR says what was done.
#
# Several programs fail for reasons of the host or of runtime-tools itself, with runc too
# (no hugetlb or net_cls controller, no AppArmor or SELinux, kernel memory accounting gone,
# races in pidfile/poststart): compare against runc rather than reading a FAIL as a bug.
set -u

RT_COMMIT=${RT_COMMIT:-260e151b8552afa2678ef6d41820ea0f31cd8be1}
RT_CACHE=${RT_CACHE:-/var/tmp/skiff-runtime-tools}
RT_TIMEOUT=${RT_TIMEOUT:-60}
MIRROR=/work/.mirror/opencontainers+runtime-tools/repo

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 RUNTIME [OUTDIR]" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "runtime-tools: must run as root" >&2
    exit 2
fi
RUNTIME=$(command -v "$1" 2>/dev/null || true)
if [ -z "$RUNTIME" ] || [ ! -x "$RUNTIME" ]; then
    echo "runtime-tools: no runtime $1" >&2
    exit 2
fi
case $RUNTIME in /*) ;; *) RUNTIME=$PWD/$RUNTIME ;; esac
RT_NAME=$(basename "$RUNTIME")
OUTDIR=${2:-$RT_CACHE/results/$RT_NAME-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR" || exit 2
OUTDIR=$(cd "$OUTDIR" && pwd)

# The runtime's default state directory, where the validations' containers are.
case ${RT_STATE_ROOT:+set}$RT_NAME in
    set*) STATE_ROOT=$RT_STATE_ROOT ;;
    runc) STATE_ROOT=/run/runc ;;
    crun) STATE_ROOT=/run/crun ;;
    youki) STATE_ROOT=/run/youki ;;
    *) STATE_ROOT=/run/$RT_NAME ;;
esac

log() { echo "runtime-tools: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Build (once)

SRC=$RT_CACHE/src-$RT_COMMIT
BIN=$SRC/bin
export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GO111MODULE=on
export GOCACHE=$RT_CACHE/gocache GOPATH=$RT_CACHE/gopath

fetch_source() {
    local tmp=$SRC.tmp.$$
    rm -rf "$tmp" && mkdir -p "$tmp" || return 1
    if [ -n "${RUNTIME_TOOLS_SRC:-}" ] && [ -d "$RUNTIME_TOOLS_SRC" ]; then
        if git -C "$RUNTIME_TOOLS_SRC" cat-file -e "$RT_COMMIT^{commit}" 2>/dev/null; then
            git -C "$RUNTIME_TOOLS_SRC" archive "$RT_COMMIT" | tar -x -C "$tmp" || return 1
        else
            cp -a "$RUNTIME_TOOLS_SRC"/. "$tmp"/ || return 1
        fi
    elif [ -d "$MIRROR" ] && git -C "$MIRROR" cat-file -e "$RT_COMMIT^{commit}" 2>/dev/null; then
        git -C "$MIRROR" archive "$RT_COMMIT" | tar -x -C "$tmp" || return 1
    else
        log "no runtime-tools source: set RUNTIME_TOOLS_SRC to a checkout of" \
            "github.com/opencontainers/runtime-tools (commit $RT_COMMIT)"
        rm -rf "$tmp"
        return 1
    fi
    [ -d "$tmp/validation" ] && [ -d "$tmp/vendor" ] || { log "source has no validation/ or vendor/"; return 1; }
    rm -rf "$SRC" && mv "$tmp" "$SRC"
}

build() {
    if ! command -v go >/dev/null 2>&1; then
        log "installing golang-go"
        DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go >"$RT_CACHE/apt.log" 2>&1 ||
            { log "apt-get install golang-go failed (see $RT_CACHE/apt.log)"; return 1; }
    fi
    [ -d "$SRC/validation" ] || fetch_source || return 1
    local goarch
    goarch=$(go env GOARCH)
    (
        cd "$SRC" || exit 1
        nice go build -o runtimetest ./cmd/runtimetest || exit 1
        mkdir -p bin.tmp || exit 1
        # shellcheck disable=SC2046
        nice go build -o bin.tmp/ $(go list ./validation/... | grep -v /util) || exit 1
        rm -rf bin && mv bin.tmp bin
    ) >"$RT_CACHE/build.log" 2>&1 || { log "build failed (see $RT_CACHE/build.log)"; return 1; }
    # The programs untar rootfs-$GOARCH.tar.gz from their working directory. Upstream ships
    # one (busybox); if it is missing, make one from the project's busybox rootfs script.
    if [ ! -s "$SRC/rootfs-$goarch.tar.gz" ]; then
        local here
        here=$(cd "$(dirname "$0")" && pwd)
        sh "$here/../../contrib/busybox-rootfs.sh" | gzip >"$SRC/rootfs-$goarch.tar.gz.tmp" &&
            mv "$SRC/rootfs-$goarch.tar.gz.tmp" "$SRC/rootfs-$goarch.tar.gz" ||
            { log "no rootfs-$goarch.tar.gz"; return 1; }
    fi
    touch "$SRC/.built"
}

mkdir -p "$RT_CACHE"
exec 9>"$RT_CACHE/.lock"
flock 9
if [ ! -e "$SRC/.built" ]; then
    log "building runtime-tools $RT_COMMIT in $SRC"
    build || exit 2
fi
exec 9>&-
GOARCH_=$(go env GOARCH 2>/dev/null) || case $(uname -m) in
    x86_64) GOARCH_=amd64 ;; aarch64) GOARCH_=arm64 ;; i?86) GOARCH_=386 ;; *) GOARCH_=$(uname -m) ;;
esac

# ---------------------------------------------------------------------------------------------
# Run

RUNDIR=$(mktemp -d "$RT_CACHE/run.XXXXXX")
TMP=$RUNDIR/tmp
mkdir -p "$TMP"
# like /tmp: a container whose root is mapped to another uid (linux_ns_nopath, uid mappings)
# must still reach its bundle
chmod 0755 "$RUNDIR" && chmod 1777 "$TMP"
# copies, not symlinks: the programs copy runtimetest into each bundle, a symlink as a symlink
cp "$SRC/runtimetest" "$SRC/rootfs-$GOARCH_.tar.gz" "$RUNDIR"/
TOKEN=skiff-rt-$$-$RANDOM
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

list_ids() {
    [ -d "$STATE_ROOT" ] && ls -1 "$STATE_ROOT" 2>/dev/null | grep -E "$UUID_RE" | sort
}
# cgroup directories the programs may make, and all below them: their container ids (uuid;
# runc puts a container at /<id>, skiff-runc at /skiff-runc/<id>), cgrouptest (the
# linux_cgroups_* absolute path), testdir (linux_cgroups_relative_*: testdir/cgrouptest/container,
# under the caller's own cgroup), runtime-tools*
list_cgroups() {
    find /sys/fs/cgroup/ -regextype posix-extended -mindepth 2 -type d \
        -regex ".*/(cgrouptest|testdir|runtime-tools[^/]*|${UUID_RE:1:-1})(/.*)?" 2>/dev/null | sort
}
STATE_ROOT_EXISTED=$([ -d "$STATE_ROOT" ] && echo yes)
IDS_BEFORE=$(list_ids)
CGROUPS_BEFORE=$(list_cgroups)
CLEANLOG=$OUTDIR/cleanup.log
: >"$CLEANLOG"

# Processes of this run: those that inherited $TOKEN (the programs, the runtime, helpers such
# as `unshare ... sleep`), those whose root is under $TMP (containers without a mount
# namespace of their own) and those in the cgroups the run made (the other containers).
our_pids() {
    local d
    {
        grep -lzx "SKIFF_RT_TOKEN=$TOKEN" /proc/[0-9]*/environ | cut -d/ -f3
        find /proc -mindepth 2 -maxdepth 2 -name root -lname "$TMP/*" | cut -d/ -f3
        for d in $(comm -13 <(echo "$CGROUPS_BEFORE") <(list_cgroups)); do
            cat "$d/cgroup.procs"
        done
    } 2>/dev/null | grep -vx -e "$$" -e '' | sort -un
}

cleanup() {
    local id pids m i
    # containers left under the default root (only those this run made)
    for id in $(comm -13 <(echo "$IDS_BEFORE") <(list_ids)); do
        echo "$1: $RUNTIME delete --force $id" >>"$CLEANLOG"
        timeout 20 "$RUNTIME" delete --force "$id" >>"$CLEANLOG" 2>&1 ||
            { timeout 5 "$RUNTIME" kill "$id" KILL >/dev/null 2>&1; sleep 0.5
              timeout 20 "$RUNTIME" delete --force "$id" >>"$CLEANLOG" 2>&1; }
    done
    # stray processes
    for i in 1 2 3 4 5; do
        pids=$(our_pids)
        [ -z "$pids" ] && break
        for p in $pids; do
            echo "$1: kill $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)" >>"$CLEANLOG"
        done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
        sleep 0.3
    done
    # mounts under the temp dir, deepest first
    for i in 1 2 3; do
        m=$(awk -v t="$TMP" '{ p = $5; gsub(/\\040/, " ", p); if (index(p, t "/") == 1) print p }' \
            /proc/self/mountinfo | sort -r)
        [ -z "$m" ] && break
        while IFS= read -r p; do
            echo "$1: umount $p" >>"$CLEANLOG"
            umount -l "$p" 2>/dev/null
        done <<<"$m"
    done
    # bundles the programs did not remove
    rm -rf "${TMP:?}"/* 2>/dev/null
    # each program starts without the cgroups an earlier one left (they share /cgrouptest)
    [ "$1" = end ] || remove_cgroups "$1" 2
}

# cgroup directories made by the programs, deepest first, once their tasks are gone (the
# kernel may take a moment to let a dead task's cgroup go)
remove_cgroups() {
    local d i
    for i in $(seq "$2"); do
        for d in $(comm -13 <(echo "$CGROUPS_BEFORE") <(list_cgroups) | sort -r); do
            rmdir "$d" 2>/dev/null && echo "$1: rmdir $d" >>"$CLEANLOG"
        done
        [ -z "$(comm -13 <(echo "$CGROUPS_BEFORE") <(list_cgroups))" ] && return 0
        sleep 0.5
    done
    for d in $(comm -13 <(echo "$CGROUPS_BEFORE") <(list_cgroups)); do
        echo "$1: cgroup left: $d" >>"$CLEANLOG"
    done
}

final_cleanup() {
    cleanup end
    remove_cgroups end 10
    # the runtime's state directory, if this run made it and left it empty
    [ -z "$STATE_ROOT_EXISTED" ] && rmdir "$STATE_ROOT" 2>/dev/null
    rm -rf "$RUNDIR"
}
trap 'final_cleanup; exit 130' INT TERM HUP

if [ -n "${RT_TESTS:-}" ]; then
    TESTS=$RT_TESTS
else
    TESTS=$(ls "$BIN")
fi

SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
report() { echo "$*"; echo "$*" >>"$SUMMARY"; }

pass=0 fail=0 skip=0
start=$(date +%s)
for name in $TESTS; do
    prog=$BIN/$name
    if [ ! -x "$prog" ]; then
        report "SKIP $name (no such program)"
        skip=$((skip + 1))
        continue
    fi
    tap=$OUTDIR/$name.tap err=$OUTDIR/$name.stderr
    t0=$(date +%s.%N)
    (cd "$RUNDIR" && exec env SKIFF_RT_TOKEN="$TOKEN" TMPDIR="$TMP" RUNTIME="$RUNTIME" \
        timeout -k 5 "$RT_TIMEOUT" "$prog") </dev/null >"$tap" 2>"$err"
    rc=$?
    t1=$(date +%s.%N)
    cleanup "$name"
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    echo "exit=$rc seconds=$secs" >>"$err"

    # top-level TAP lines only: runtimetest's own output nested in YAML diagnostics is indented
    total=$(grep -cE '^(not )?ok\b' "$tap")
    notok=$(grep -E '^not ok\b' "$tap" | grep -cvE '#[[:space:]]*TODO\b')
    skipped=$(grep -ciE '^ok\b.*#[[:space:]]*skip\b' "$tap")
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        report "FAIL $name (timeout after ${RT_TIMEOUT}s; $notok/$total tap lines not ok)"
        fail=$((fail + 1))
    elif [ "$notok" -gt 0 ]; then
        report "FAIL $name ($notok/$total tap lines not ok)"
        fail=$((fail + 1))
    elif [ "$rc" != 0 ]; then
        why=$( (grep -m1 -E 'msg=|MUST|rror' "$err" || grep -v '^exit=' "$err" | grep -v '^[[:space:]]*$' | tail -n 1) | cut -c1-200)
        report "FAIL $name (exit $rc, $total tap lines: $why)"
        fail=$((fail + 1))
    elif [ "$total" = 0 ] && grep -q '^[[:space:]]*"error":' "$tap"; then
        # Header(0) programs (hooks, prestart...) print no test line, only a YAML diagnostic
        # with the error when they fail
        why=$(grep -m1 '^[[:space:]]*"error":' "$tap" | sed -E 's/^[[:space:]]*"error": *"?//; s/\\n.*//' | cut -c1-160)
        report "FAIL $name (error: $why)"
        fail=$((fail + 1))
    elif [ "$total" = 0 ]; then
        # 1..0, or no TAP at all (process_rlimits_fail): exit 0 and no error diagnostic
        report "PASS $name"
        pass=$((pass + 1))
    elif [ "$skipped" = "$total" ]; then
        why=$(grep -iE '^ok\b.*#[[:space:]]*skip\b' "$tap" | head -n 1 | sed -E 's/^ok [0-9]+ *#[[:space:]]*[Ss][Kk][Ii][Pp][[:space:]]*//' | cut -c1-160)
        report "SKIP $name (${why:-skipped})"
        skip=$((skip + 1))
    else
        report "PASS $name"
        pass=$((pass + 1))
    fi
done
end=$(date +%s)
final_cleanup
trap - INT TERM HUP

report "runtime-tools against $RUNTIME: $((end - start)) s; TAP, stderr and cleanup.log in $OUTDIR"
report "runtime-tools: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
