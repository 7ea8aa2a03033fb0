# Sourced by the bench scripts, after `set -euo pipefail`, with the script's own arguments:
# re-runs the script in a private mount namespace with /sys/fs/cgroup/unified unmounted
# (crun, under buildah and podman too, refuses this host's hybrid cgroup layout otherwise;
# every tool then sees the same world), checks for hyperfine, builds skiff, and sets SKIFF.
cd "$(dirname "$0")/.."
if [ -z "${SKIFF_BENCH_INNER:-}" ]; then
    exec unshare -m env SKIFF_BENCH_INNER=1 "$0" "$@"
fi
mount --make-rprivate /
umount /sys/fs/cgroup/unified 2>/dev/null || true
command -v hyperfine >/dev/null || { echo "bench: apt-get install hyperfine" >&2; exit 1; }
cargo build --release -q
SKIFF=$PWD/target/release/skiff
