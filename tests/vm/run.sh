#!/usr/bin/env bash
# The VM tier: boots a Debian 12 guest (systemd as PID 1, pure cgroup v2) under qemu, hands it a
# built skiff on a second disk, runs tests/vm/guest.sh there as root, as a lingering user with a
# systemd user manager (tester) and as a user without one (nolinger), and prints the results.
#   tests/vm/run.sh            the checks; exit 0 only if all passed
#   tests/vm/run.sh --bench    hyperfine in the guest instead (bench/vm.sh)
# SKIFF_BIN (default target/debug/skiff) is the binary tested; SKIFF_VM_CACHE where the image
# is kept; SKIFF_VM_TIMEOUT bounds the VM (seconds). When the image cannot be made here (not
# root, no Debian mirror) it prints "skipped: <why>" and exits 0.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
vm=$repo/tests/vm
mode=check
case "${1:-}" in
    --bench) mode=bench ;;
    "") ;;
    *) echo "usage: tests/vm/run.sh [--bench]" >&2; exit 2 ;;
esac
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

bin=${SKIFF_BIN:-target/debug/skiff}
case $bin in /*) ;; *) bin=$repo/$bin ;; esac
if [ ! -x "$bin" ]; then
    echo "vm: no skiff binary at $bin: build it first (cargo build) or set SKIFF_BIN" >&2
    exit 1
fi

set +e
image=$("$vm/image.sh")
rc=$?
set -e
if [ $rc -eq 77 ]; then
    echo "skipped: ${image:-the VM image cannot be made here}"
    exit 0
elif [ $rc -ne 0 ] || [ ! -s "$image/rootfs.img" ]; then
    echo "vm: building the image failed (exit $rc)" >&2
    exit 1
fi
echo "vm: image $image ready after $(elapsed) s"

work=$(mktemp -d /var/tmp/skiff-vm-run.XXXXXX)
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The second disk: what the guest needs, and room for the results.
mkdir "$work/in"
install -m 0755 "$bin" "$work/in/skiff"
install -m 0755 "$repo/contrib/busybox-rootfs.sh" "$work/in/busybox-rootfs.sh"
install -m 0755 "$vm/guest.sh" "$work/in/guest.sh"
if [ $mode = bench ]; then
    install -m 0755 "$vm/bench-guest.sh" "$work/in/bench-guest.sh"
fi
echo $mode > "$work/in/mode"
truncate -s 512M "$work/in.img"
mkfs.ext4 -q -L skiffvm-in -d "$work/in" "$work/in.img"

timeout_s=${SKIFF_VM_TIMEOUT:-900}
[ $mode = bench ] && timeout_s=${SKIFF_VM_TIMEOUT:-1500}
echo "vm: booting the guest (qemu TCG, up to ${timeout_s} s)"
boot=$(date +%s)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 \
    -nographic -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$(cat "$image/cmdline")" \
    -drive "file=$image/rootfs.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$work/in.img,format=raw,if=virtio" \
    -nic user,model=virtio-net-pci,restrict=on \
    < /dev/null > "$work/console.log" 2>&1 &
qpid=$!
wait $qpid
qrc=$?
qpid=
set -e
vm_s=$(( $(date +%s) - boot ))

debugfs -R "cat /results.txt" "$work/in.img" > "$work/results.txt" 2> /dev/null || true
cat "$work/results.txt"
pass=$(grep -c '^ok ' "$work/results.txt" || true)
fail=$(grep -c '^not ok ' "$work/results.txt" || true)
if ! grep -qx '# guest: finished' "$work/results.txt"; then
    fail=$((fail + 1))
    if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
        echo "not ok - the guest did not finish: the VM was stopped after ${timeout_s} s"
    else
        echo "not ok - the guest did not finish (qemu exit $qrc)"
    fi
    echo "# last lines of the console:"
    tail -n 40 "$work/console.log" | tr -d '\r' | sed 's/^/#   /'
fi
log=${SKIFF_VM_CACHE:-/var/tmp/skiff-vm}/console-last.log
tr -d '\r' < "$work/console.log" > "$log" && echo "vm: the guest's console is in $log"
echo "vm: the VM ran ${vm_s} s; the whole run took $(elapsed) s"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
