#!/usr/bin/env bash
# `compose up -d`, `compose down -t 1` and `compose config` of a 10-service project, side by side
# in one hyperfine run with docker compose (Debian's docker-compose 1.x over docker.io's daemon)
# and podman-compose, each installed with apt-get when missing and skipped, loudly, when it
# cannot run here.
#   bench/compose.sh        (as root; needs hyperfine and busybox-static; about 20 minutes,
#                           most of it podman-compose, which sleeps 1 s after each container)
# The project: busybox services in 3 dependency levels (4 without dependencies, 3 on them, 3 on
# those), one user network, a named volume per service at /data. Every command is measured from
# the opposite state (`up -d` after `down -t 1`, `down -t 1` after `up -d`), each tool with its
# own project name. Goals (issue): skiff's `up -d` at most 1/3 of docker compose's wall time,
# its `down` at most 1/2, `compose config` under 20 ms.
#   SKIFF=path/to/skiff     the binary measured (default target/release/skiff, else target/debug)
#   RUNS=10                 hyperfine runs per command (at least: config gets more)
#   PEERS='docker podman'   the peers to measure (PEERS= for skiff alone)
#   SERVICE_COMMAND=...     the services' command; by default one that exits on SIGTERM, as
#                           real services do, so `down` measures the tools. With 'sleep 3600'
#                           (PID 1 ignores SIGTERM) every level of `down -t 1` waits its 1 s
#                           timeout, a 3 s floor for any tool that stops dependents first.
# docker: a running daemon is used as it is; otherwise one is started here (its data and exec
# roots in the scratch directory) and stopped at the end, with its docker0 bridge, its DOCKER
# iptables chains and rules removed and the FORWARD policy restored. Runs in a private mount
# namespace with /sys/fs/cgroup/unified unmounted, as bench/run.sh (crun under podman refuses
# this host's hybrid cgroup layout otherwise); runtime dirs on a tmpfs.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
if [ -z "${SKIFF_BENCH_INNER:-}" ]; then
    exec unshare -m env SKIFF_BENCH_INNER=1 "$self" "$@"
fi
mount --make-rprivate /
umount /sys/fs/cgroup/unified 2>/dev/null || true
command -v hyperfine >/dev/null || { echo "bench: apt-get install hyperfine" >&2; exit 1; }
if [ -z "${SKIFF:-}" ]; then
    SKIFF=$PWD/target/release/skiff
    [ -x "$SKIFF" ] || SKIFF=$PWD/target/debug/skiff
fi
[ -x "$SKIFF" ] || { echo "bench: no skiff binary at $SKIFF (cargo build --release, or SKIFF=)" >&2; exit 1; }
SKIFF=$(realpath "$SKIFF")
RUNS=${RUNS:-10}
default_command="sh -c 'trap exit TERM; sleep 3600 & wait'"
SERVICE_COMMAND=${SERVICE_COMMAND:-$default_command}
PEERS=${PEERS-docker podman}
say() { echo "compose bench: $*" >&2; }

# Peers, installed when missing (Debian's packages).
missing=()
for p in docker.io docker-compose podman podman-compose; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y "${missing[@]}" >/dev/null 2>&1; } ||
        say "apt-get install ${missing[*]} failed; going on with what is there"
fi

work=$(mktemp -d /var/tmp/skiff-bench-compose.XXXXXX)
mkdir -p "$work/run" "$work/project"
mount -t tmpfs -o mode=0711 tmpfs "$work/run"
export SKIFF_ROOT=$work/skiff SKIFF_RUNROOT=$work/run/skiff
FILE=$work/project/compose.yaml
S="$SKIFF compose -p bench-skiff -f $FILE"
D="docker-compose -p bench-docker -f $FILE"
P="podman-compose -p bench-podman -f $FILE"
dockerd_pid=
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
docker_ok=
docker_used=
docker_imported=
podman_ok=

cleanup() {
    set +e
    # skiff: its store is this script's own, so everything in it goes.
    $S down -v -t 0 >/dev/null 2>&1
    for id in $($SKIFF ps -aq 2>/dev/null); do $SKIFF rm -f "$id" >/dev/null 2>&1; done
    for n in $($SKIFF network ls -q 2>/dev/null); do $SKIFF network rm "$n" >/dev/null 2>&1; done
    for v in $($SKIFF volume ls -q 2>/dev/null); do $SKIFF volume rm -f "$v" >/dev/null 2>&1; done
    # podman: its storage, network configs and runtime dirs are this script's too.
    if [ -n "${CONTAINERS_CONF:-}" ]; then
        $P down -v -t 0 >/dev/null 2>&1
        podman rm -af -t 0 >/dev/null 2>&1
        podman pod rm -af >/dev/null 2>&1
        podman network prune -f >/dev/null 2>&1
        podman volume prune -f >/dev/null 2>&1
        podman rmi -af >/dev/null 2>&1
        [ "$(podman info --format '{{.Store.GraphRoot}}' 2>/dev/null)" = "$work/podman/root" ] &&
            podman system reset -f >/dev/null 2>&1
    fi
    if [ -n "$docker_used" ]; then
        $D down -v -t 0 >/dev/null 2>&1
        if [ -n "$dockerd_pid" ]; then
            # The daemon is ours: remove all it holds, then stop it and what it left in the host.
            docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
            docker network prune -f >/dev/null 2>&1
            kill "$dockerd_pid" 2>/dev/null
            for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$dockerd_pid" 2>/dev/null; then
                say "dockerd ($dockerd_pid) did not stop; killing it"
                kill -KILL "$dockerd_pid"
                sleep 0.5
            fi
            local c
            c=$(cat "$work/run/docker/containerd/containerd.pid" 2>/dev/null) &&
                kill -0 "$c" 2>/dev/null && [ "$(cat "/proc/$c/comm")" = containerd ] && kill "$c"
            ip link del docker0 2>/dev/null
            for t in filter nat; do
                iptables -t "$t" -S 2>/dev/null | grep -E '^-A ' | grep -v '^-A DOCKER' |
                    grep -E 'DOCKER|docker0' | while read -r rule; do
                    eval "iptables -t $t -D ${rule#-A }"
                done
                for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
                    iptables -t "$t" -F "$chain"
                done
                for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
                    iptables -t "$t" -X "$chain"
                done
            done
            [ -n "$forward_policy" ] && iptables -P FORWARD "$forward_policy"
        elif [ -n "$docker_imported" ]; then
            docker rmi busybox >/dev/null 2>&1
        fi
    fi
    umount -R "$work/podman" 2>/dev/null
    umount -R "$work/docker" 2>/dev/null
    umount -R "$work/run" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The project: level 1 has no dependencies, level 2 depends on level 1, level 3 on level 2.
declare -A deps=([l1a]="" [l1b]="" [l1c]="" [l1d]=""
                 [l2a]="l1a l1b" [l2b]="l1b l1c" [l2c]="l1c l1d"
                 [l3a]="l2a" [l3b]="l2a l2b" [l3c]="l2b l2c")
{
    echo "networks:"
    echo "  net: {}"
    echo "services:"
    for s in l1a l1b l1c l1d l2a l2b l2c l3a l3b l3c; do
        echo "  $s:"
        echo "    image: busybox"
        echo "    command: $SERVICE_COMMAND"
        echo "    networks: [net]"
        echo "    volumes: [\"$s:/data\"]"
        [ -n "${deps[$s]}" ] && echo "    depends_on: [$(echo "${deps[$s]}" | sed 's/ /, /g')]"
    done
    echo "volumes:"
    for s in l1a l1b l1c l1d l2a l2b l2c l3a l3b l3c; do echo "  $s: {}"; done
} > "$FILE"
contrib/busybox-rootfs.sh > "$work/rootfs.tar"

# try NAME CMD...: run a set-up step, printing its output and returning non-zero when it fails.
try() {
    local name=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        say "$name failed: $*"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /' >&2
        return 1
    fi
}
# check TOOL COMPOSE PS: one up -d and down -t 1, so each tool starts measured with its network
# made once and its volumes there, and a tool that cannot run here is left out. PS lists the
# project's running containers: all 10 must run (podman-compose exits 0 when they fail).
check() {
    local n
    try "$1 up -d" $2 up -d || return 1
    n=$($3 | wc -l)
    if [ "$n" != 10 ]; then
        say "$1 up -d: $n of 10 containers run"
        $2 logs 2>&1 | tail -n 5 | sed 's/^/    /' >&2
        return 1
    fi
    try "$1 down -t 1" $2 down -t 1
}
running() { # running PS-COMMAND PROJECT
    $1 ps -q --filter "label=com.docker.compose.project=$2" --filter status=running
}

$SKIFF import - busybox < "$work/rootfs.tar" >/dev/null
check skiff "$S" "running $SKIFF bench-skiff" || { say "skiff itself fails; nothing to compare"; exit 1; }

# docker: the running daemon, or one started here.
if [[ " $PEERS " != *" docker "* ]]; then
    say "docker compose: not measured (PEERS=$PEERS)"
elif command -v dockerd >/dev/null && command -v docker-compose >/dev/null; then
    if docker info >/dev/null 2>&1; then
        say "using the running docker daemon"
        docker_used=1
        docker_ok=1
    elif pgrep -x dockerd >/dev/null; then
        say "skipping docker compose: a dockerd runs but does not answer"
    else
        export DOCKER_HOST=unix://$work/run/docker.sock
        docker_used=1
        dockerd --iptables=true --data-root "$work/docker" --exec-root "$work/run/docker" \
            --pidfile "$work/run/docker.pid" -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
        dockerd_pid=$!
        for _ in $(seq 150); do
            docker info >/dev/null 2>&1 && { docker_ok=1; break; }
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.2
        done
        if [ -z "$docker_ok" ]; then
            say "skipping docker compose: dockerd did not come up"
            tail -n 15 "$work/dockerd.log" | sed 's/^/    /' >&2
        fi
    fi
    if [ -n "$docker_ok" ] && ! docker image inspect busybox >/dev/null 2>&1; then
        try "docker import" docker import "$work/rootfs.tar" busybox && docker_imported=1 || docker_ok=
    fi
    if [ -n "$docker_ok" ] && ! check docker-compose "$D" "running docker bench-docker"; then
        say "skipping docker compose: it cannot run the project here"
        docker_ok=
    fi
else
    say "skipping docker compose: dockerd or docker-compose is not installed"
fi

# podman: a store, network configs and runtime dirs of its own; nofile and nproc limits under
# this host's hard limits (rootful podman raises them past those otherwise, and the runtime
# fails), cgroupfs (no systemd here), and runc as docker has: crun refuses this host's hybrid
# cgroup layout (and with cgroup2 unmounted, still makes a cgroup there); without runc, no cgroups.
if [[ " $PEERS " != *" podman "* ]]; then
    say "podman-compose: not measured (PEERS=$PEERS)"
elif command -v podman >/dev/null && command -v podman-compose >/dev/null; then
    mkdir -p "$work/podman/networks"
    if command -v runc >/dev/null; then runtime='runtime = "runc"'; cgroups=; else
        runtime=; cgroups='cgroups = "disabled"'; say "podman: no runc, so no cgroups for podman"; fi
    cat > "$work/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=10000:10000"]
$cgroups
[network]
network_config_dir = "$work/podman/networks"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$work/run/podman-tmp"
$runtime
EOF
    cat > "$work/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/podman/root"
runroot = "$work/run/podman"
EOF
    export CONTAINERS_CONF=$work/podman/containers.conf CONTAINERS_STORAGE_CONF=$work/podman/storage.conf
    if try "podman import" podman import -q "$work/rootfs.tar" docker.io/library/busybox:latest &&
        check podman-compose "$P" "running podman bench-podman"; then
        podman_ok=1
    else
        say "skipping podman-compose: it cannot run the project here"
    fi
else
    say "skipping podman-compose: podman or podman-compose is not installed"
fi

# One hyperfine run: up -d (prepared by down), down -t 1 (prepared by up -d), config.
up=() down=() config=()
add() { # add ARRAY NAME PREPARE COMMAND
    local -n a=$1
    a+=(-n "$2" --prepare "$3" "$4")
}
add up "skiff up -d" "$S down -t 1" "$S up -d"
add down "skiff down -t 1" "$S up -d" "$S down -t 1"
add config "skiff config" true "$S config"
if [ -n "$docker_ok" ]; then
    add up "docker-compose up -d" "$D down -t 1" "$D up -d"
    add down "docker-compose down -t 1" "$D up -d" "$D down -t 1"
    add config "docker-compose config" true "$D config"
fi
if [ -n "$podman_ok" ]; then
    add up "podman-compose up -d" "$P down -t 1" "$P up -d"
    add down "podman-compose down -t 1" "$P up -d" "$P down -t 1"
    if $P config >/dev/null 2>&1; then
        add config "podman-compose config" true "$P config"
    else
        say "podman-compose config: not measured, podman-compose $(dpkg-query -W -f '${Version}' podman-compose 2>/dev/null) has no config command"
    fi
fi
echo "== compose up -d / down -t 1 / config, 10 services in 3 levels, one network, a volume each"
echo "   services run: $SERVICE_COMMAND"
# At least RUNS runs each; the fast config commands get as many as fit in hyperfine's 3 s.
hyperfine -N -w 1 -m "$RUNS" "${up[@]}" "${down[@]}" "${config[@]}" \
    --export-markdown "$work/compose.md" --export-json "$work/compose.json"
cat "$work/compose.md"
python3 - "$work/compose.json" "$SERVICE_COMMAND" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
if sys.argv[2].startswith("sleep "):
    print("\n(`sleep` as PID 1 ignores SIGTERM: `down -t 1` waits 1 s per dependency level, a 3 s floor")
    print(" for whoever stops dependents first; a SERVICE_COMMAND that exits on SIGTERM shows the")
    print(" tools' own cost)")
ms = lambda n: f'{r[n]["mean"] * 1000:.1f} ± {r[n]["stddev"] * 1000:.1f} ms'
print("\n== against docker compose (goals: up -d <= 1/3, down <= 1/2; config < 20 ms)")
for op, goal in (("up -d", 1 / 3), ("down -t 1", 1 / 2), ("config", None)):
    base = f"docker-compose {op}"
    for tool in ("skiff", "podman-compose"):
        name = f"{tool} {op}"
        if name not in r:
            continue
        line = f"{name:24} {ms(name):>22}"
        if base in r:
            ratio = r[name]["mean"] / r[base]["mean"]
            line += f"   {ratio:.3f} x docker-compose ({ms(base)})"
            if tool == "skiff" and goal:
                line += f"   goal <= {goal:.3f}: {'met' if ratio <= goal else 'NOT met'}"
        if tool == "skiff" and op == "config":
            line += f"   goal < 20 ms: {'met' if r[name]['mean'] < 0.020 else 'NOT met'}"
        print(line)
PY
