#!/usr/bin/env bash
# The rest of the command line (issue 16): a healthchecking monitor's memory and CPU, reading
# 100,000 journal events with a filter, and ps -a over 100 containers.
#   bench/cli.sh            (as root; needs hyperfine; about two minutes)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /var/tmp/skiff-bench-cli.XXXXXX)
mkdir -p "$work/run"
mount -t tmpfs -o mode=0711 tmpfs "$work/run"
R="--root $work/root --runroot $work/run/skiff"
trap 'for id in $($SKIFF $R ps -aq 2>/dev/null); do $SKIFF $R rm -f "$id" >/dev/null 2>&1; done; umount "$work/run" 2>/dev/null; rm -rf "$work"' EXIT
contrib/busybox-rootfs.sh | $SKIFF $R import - busybox >/dev/null

echo "== a detached container with a healthcheck every second: its monitor over 60 s"
id=$($SKIFF $R run -d --network none --health-cmd true --health-interval 1s busybox sleep 600)
pid=$($SKIFF $R inspect -f '{{.State.Pid}}' "$id")
monitor=$(awk '{print $4}' "/proc/$pid/stat")
ticks() { awk '{print $14 + $15}' "/proc/$monitor/stat"; }
before=$(ticks)
sleep 60
after=$(ticks)
hz=$(getconf CLK_TCK)
echo "health: $($SKIFF $R inspect -f '{{.State.Health.Status}} after {{len .State.Health.Log}} kept probes' "$id")"
grep -E '^(VmRSS|VmHWM):' "/proc/$monitor/status"
grep -E '^(Rss|Pss):' "/proc/$monitor/smaps_rollup"
echo "monitor CPU over 60 s: $(( (after - before) * 1000 / hz )) ms (probers are separate processes)"
$SKIFF $R rm -f "$id" >/dev/null

echo "== events: 100,000 journal lines, one filter"
python3 - "$work/run/skiff/events.log" <<'PY'
import json, sys, time
now = time.time_ns()
with open(sys.argv[1], "w") as f:
    for i in range(100_000):
        action = "die" if i % 10 == 0 else "start"
        e = {"status": action, "id": f"{i:064x}", "from": "busybox", "Type": "container",
             "Action": action, "Actor": {"ID": f"{i:064x}", "Attributes": {"image": "busybox",
             "name": f"c{i}", "exitCode": "0"}}, "scope": "local",
             "time": (now - (100_000 - i) * 1000) // 10**9, "timeNano": now - (100_000 - i) * 1000}
        f.write(json.dumps(e) + "\n")
PY
hyperfine -N -w 2 -r 10 -n "events --since 1h --until now --filter event=die (100k lines)" \
    "$SKIFF $R events --since 1h --until now --filter event=die --format {{.ID}}" \
    --output=null --export-markdown "$work/events.md"
cat "$work/events.md"

echo "== ps -a with 100 containers (exited)"
for i in $(seq 100); do $SKIFF $R run --network none busybox true >/dev/null; done
hyperfine -N -w 5 -r 50 -n "skiff ps -a (100)" "$SKIFF $R ps -a" --export-markdown "$work/ps.md"
cat "$work/ps.md"
