#!/usr/bin/env bash
# Build benchmarks, side by side with `buildah bud` (and `docker build` when a docker daemon
# answers), on the same Dockerfiles and contexts, one hyperfine run per case:
#   (a) a 12-step Dockerfile, cold (--no-cache)
#   (b) the same, rebuilt with a warm cache
#   (c) COPY of a 2,000-file, 50 MB context, then RUN true (cold)
#   (d) (c) again after touching one file (the COPY and what follows miss; only that file is hashed)
# As root: bench/build.sh   (needs hyperfine, buildah; busybox-static for the base image)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /var/tmp/skiff-bench-build.XXXXXX)
R="--root $work/skiff/root --runroot $work/skiff/run"
B="--root $work/buildah/root --runroot $work/buildah/run --storage-driver overlay"
cleanup() {
    for id in $($SKIFF $R ps -aq 2>/dev/null); do $SKIFF $R rm -f "$id" >/dev/null 2>&1; done
    # The RUN steps' default network: its bridge, nft table and FORWARD rules are the host's.
    for n in $($SKIFF $R network ls -q 2>/dev/null); do $SKIFF $R network rm "$n" >/dev/null 2>&1; done
    command -v buildah >/dev/null && buildah $B rm -a >/dev/null 2>&1
    command -v buildah >/dev/null && buildah $B rmi -a -f >/dev/null 2>&1
    umount -R "$work/buildah" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The same base image for every tool: the host's busybox, as localhost/busybox.
contrib/busybox-rootfs.sh > "$work/rootfs.tar"
$SKIFF $R import --change 'CMD ["sh"]' - localhost/busybox:latest < "$work/rootfs.tar" >/dev/null
have_buildah=
if command -v buildah >/dev/null; then
    $SKIFF $R save --format oci-archive -o "$work/busybox-oci.tar" localhost/busybox:latest
    buildah $B pull -q "oci-archive:$work/busybox-oci.tar" >/dev/null
    buildah $B tag "$(buildah $B images -q | head -1)" localhost/busybox:latest
    have_buildah=1
fi

# (a)/(b): twelve steps, metadata and files.
mkdir -p "$work/ctx12"
echo "hello" > "$work/ctx12/a.txt"
cat > "$work/ctx12/Dockerfile" <<'EOF'
FROM localhost/busybox:latest
ARG V=1
ENV APP=/app MODE=bench
WORKDIR /app
COPY a.txt /app/a.txt
RUN echo "$V" > /app/v && mkdir -p /app/data
RUN for i in 1 2 3 4 5; do echo $i >> /app/data/n; done
LABEL bench=yes
EXPOSE 8080
USER nobody
VOLUME /app/data
CMD ["cat", "/app/v"]
EOF
# (c)/(d): 2,000 files, 50 MB.
mkdir -p "$work/ctxbig/src"
for d in $(seq 0 19); do
    mkdir -p "$work/ctxbig/src/d$d"
    for f in $(seq 0 99); do
        head -c 25600 /dev/urandom > "$work/ctxbig/src/d$d/f$f"
    done
done
cat > "$work/ctxbig/Dockerfile" <<'EOF'
FROM localhost/busybox:latest
COPY src /src
RUN true
EOF

row() { # row NAME SKIFF_CMD BUILDAH_CMD [PREPARE]
    local name=$1 s=$2 b=$3 prep=${4:-true}
    local args=(-N --warmup 1 --runs 10 --prepare "$prep" -n "skiff $name" "$s")
    [ -n "$have_buildah" ] && args+=(-n "buildah $name" "$b")
    echo "== $name"
    hyperfine "${args[@]}" --export-markdown "$work/$(echo "$name" | tr -c 'a-z0-9' _).md"
    cat "$work/$(echo "$name" | tr -c 'a-z0-9' _).md"
}
row "(a) 12 steps, --no-cache" \
    "$SKIFF $R build -q --no-cache -t b12 $work/ctx12" \
    "buildah $B bud -q --layers --no-cache --isolation oci -t b12 $work/ctx12"
row "(b) 12 steps, cached" \
    "$SKIFF $R build -q -t b12 $work/ctx12" \
    "buildah $B bud -q --layers --isolation oci -t b12 $work/ctx12"
row "(c) COPY 2000 files 50MB + RUN, --no-cache" \
    "$SKIFF $R build -q --no-cache -t big $work/ctxbig" \
    "buildah $B bud -q --layers --no-cache --isolation oci -t big $work/ctxbig"
row "(d) (c) after touching one file" \
    "$SKIFF $R build -q -t big $work/ctxbig" \
    "buildah $B bud -q --layers --isolation oci -t big $work/ctxbig" \
    "sh -c 'head -c 25600 /dev/urandom > $work/ctxbig/src/d7/f7'"
