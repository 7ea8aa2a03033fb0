#!/usr/bin/env bash
# Build (or reuse) the guest image for the VM tier: Debian 12 with systemd as PID 1 and pure
# cgroup v2, booted with the host's Debian kernel.
#   tests/vm/image.sh          prints the image directory (rootfs.img, vmlinuz, initrd.img, cmdline)
# The image is cached in ${SKIFF_VM_CACHE:-/var/tmp/skiff-vm}/<key>, the key being a hash of
# this recipe, the files it copies in and the kernel version, so a second call reuses it.
# Exit codes: 0 built or reused; 77 the image cannot be made here (not root, no Debian mirror,
# host tools cannot be installed): callers skip; anything else is a bug in the recipe.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SKIFF_VM_CACHE:-/var/tmp/skiff-vm}
log() { echo "image: $*"; }
# stdout is the image directory, or on exit 77 the reason (run.sh prints it as "skipped: ...")
exec 3>&1 1>&2
skip() { echo "image: cannot build the guest image: $*"; echo "cannot build the VM image: $*" >&3; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "must run as root (debootstrap, chroot)"
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"

# Host tools, and the Debian kernel whose vmlinuz, initrd and modules the guest boots with.
have_kernel() { compgen -G '/boot/vmlinuz-*-amd64' >/dev/null; }
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null || need+=(e2fsprogs)
have_kernel || need+=(linux-image-amd64)
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "missing ${need[*]} and no apt-get"
    log "installing host tools: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "${need[@]}"; } ||
        skip "apt-get install ${need[*]} failed (no mirror reachable?)"
fi
kernel=$(ls /boot/vmlinuz-*-amd64 | sort -V | tail -n1)
kver=${kernel#/boot/vmlinuz-}
[ -r "/boot/initrd.img-$kver" ] || skip "no /boot/initrd.img-$kver (initramfs-tools?)"
[ -d "/lib/modules/$kver" ] || skip "no /lib/modules/$kver for the guest kernel"

key=$({ cat "$0"; echo "$kver"; } | sha256sum | cut -c1-16)
dir=$cache/$key
if [ -s "$dir/rootfs.img" ] && [ -e "$dir/done" ]; then
    log "reusing $dir"
    echo "$dir" >&3
    exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/lock"
flock -w 1800 9 || { log "another image build holds $cache/lock"; exit 1; }
if [ -e "$dir/done" ]; then echo "$dir" >&3; exit 0; fi   # built while we waited

# The mirror: the one this host's apt uses (deb822 first, then one-line sources).
mirror=${SKIFF_VM_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' \
        /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
    mirror=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

start=$(date +%s)
rm -rf --one-file-system "$dir"
mkdir -p "$dir"
root=$dir/root
cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    [ -e "$dir/done" ] || rm -rf --one-file-system "$dir"
    return 0
}
trap cleanup EXIT

log "debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$dir/debootstrap.log" 2>&1 || {
    tail -n 5 "$dir/debootstrap.log" >&2
    skip "debootstrap from $mirror failed"
}
log "debootstrap took $(( $(date +%s) - start )) s"

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # start no service in the chroot
chmod 0755 "$root/usr/sbin/policy-rc.d"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
apt_install() {
    in_root apt-get install -y -q --no-install-recommends "$@" >> "$dir/apt.log" 2>&1 || {
        tail -n 5 "$dir/apt.log" >&2
        skip "apt-get install in the guest root failed: $*"
    }
}
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" > "$root/etc/apt/sources.list"
in_root apt-get update -q > "$dir/apt.log" 2>&1 || skip "apt-get update in the guest root failed"

t=$(date +%s)
apt_install systemd-sysv udev dbus dbus-user-session libpam-systemd uidmap passt slirp4netns \
    nftables iproute2 busybox-static kmod procps util-linux
log "base packages took $(( $(date +%s) - t )) s"
t=$(date +%s)
apt_install podman hyperfine strace    # only for tests/vm/run.sh --bench
log "podman + hyperfine + strace took $(( $(date +%s) - t )) s"
in_root apt-get clean

# The host kernel's modules (tun, veth, bridge, overlay, nf_tables...).
mkdir -p "$root/lib/modules"
cp -a "/lib/modules/$kver" "$root/lib/modules/"
depmod -b "$root" "$kver"
cp "$kernel" "$dir/vmlinuz"
cp "/boot/initrd.img-$kver" "$dir/initrd.img"

# Users: tester lingers (its user manager starts at boot), nolinger has no user manager.
in_root useradd -m -u 1000 -s /bin/bash tester
in_root useradd -m -u 1001 -s /bin/bash nolinger
printf 'tester:100000:65536\nnolinger:165536:65536\n' > "$root/etc/subuid"
cp "$root/etc/subuid" "$root/etc/subgid"
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/tester"

# System identity: a fixed machine id (so this is not a "first boot" that may prompt).
echo skiffvm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 skiffvm\n::1 localhost\n' > "$root/etc/hosts"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"
echo >> "$root/etc/machine-id"
cat > "$root/etc/fstab" <<'EOF'
/dev/vda  /        ext4  rw,errors=remount-ro  0 0
/dev/vdb  /mnt/in  ext4  rw,nofail,x-systemd.device-timeout=60s  0 0
EOF
mkdir -p "$root/mnt/in"

# Network: DHCP from qemu's user-mode NIC (restrict=on: no way out). Its DHCP server gives
# no router when restricted, and pasta needs a default route: the gateway is set here.
# Match the NIC by driver only: a broader match (Type=ether) makes networkd take the host ends
# of skiff's veth pairs too, and root's published ports stop working.
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/50-nic.network" <<'EOF'
[Match]
Driver=virtio_net

[Network]
DHCP=ipv4
Gateway=10.0.2.2
EOF
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/bound.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
EOF

# The test: a target that is the default, pulling in multi-user and the test unit after it.
cat > "$root/etc/systemd/system/skiff-vm-test.target" <<'EOF'
[Unit]
Description=skiff VM test run
Requires=multi-user.target
After=multi-user.target
Wants=skiff-vm-test.service
AllowIsolate=yes
EOF
cat > "$root/etc/systemd/system/skiff-vm-test.service" <<'EOF'
[Unit]
Description=skiff VM tests (/mnt/in/guest.sh)
After=multi-user.target user@1000.service network-online.target systemd-user-sessions.service
Wants=network-online.target user@1000.service
RequiresMountsFor=/mnt/in
# systemd 252: these belong in [Unit]; in [Service] they are ignored and the VM never stops.
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/bash /mnt/in/guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=840
EOF
ln -sf /etc/systemd/system/skiff-vm-test.target "$root/etc/systemd/system/default.target"
in_root systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >/dev/null 2>&1
# Nothing waits on the console: no getty, no first-boot prompts.
in_root systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-firstboot.service \
    >/dev/null 2>&1
rm -f "$root/usr/sbin/policy-rc.d"
cat > "$dir/cmdline" <<'EOF'
console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 panic=-1 loglevel=4 systemd.show_status=auto
EOF
for m in dev/pts dev proc sys; do umount -l "$root/$m"; done

# The disk: ext4 written straight from the directory (no loop mount), with room to work in.
used_mb=$(du -sm "$root" | cut -f1)
size_mb=$(( used_mb + 3072 ))
log "root is ${used_mb} MB; writing a ${size_mb} MB ext4 image"
rm -f "$dir/rootfs.img"
truncate -s "${size_mb}M" "$dir/rootfs.img"
mkfs.ext4 -q -L skiffvm-root -d "$root" "$dir/rootfs.img"
rm -rf --one-file-system "$root"
touch "$dir/done"
for old in "$cache"/*/done; do     # keep only this recipe's image
    [ "$old" = "$dir/done" ] || rm -rf --one-file-system "$(dirname "$old")"
done
log "built $dir in $(( $(date +%s) - start )) s"
echo "$dir" >&3
