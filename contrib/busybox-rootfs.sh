#!/bin/sh
# Write a busybox root filesystem tarball to stdout, built from the host's busybox-static, so
# skiff has a default image without any network:  contrib/busybox-rootfs.sh | skiff import - busybox
set -eu
BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" true 2>/dev/null || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "busybox-rootfs: $BUSYBOX is missing or not static: apt-get install busybox-static" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/home" "$root/var/www" "$root/proc" \
    "$root/sys" "$root/dev" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
mkdir -m 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
GROUP
chmod 0700 "$root/root"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - .
