#!/usr/bin/env bash
# Pull benchmarks against a local registry (Debian's docker-registry on 127.0.0.1):
#   bench/pull.sh           (as root; needs hyperfine, docker-registry, skopeo, debootstrap, python3)
# Two images, pushed once by skopeo from OCI layouts built here:
#   big      3 gzip layers, ~114 MB compressed, ~170 MB unpacked: 40 MB of incompressible files,
#            the host's /usr/share/doc (5000 small files), 10 MB more incompressible data;
#   minbase  one layer: `debootstrap --variant=minbase bookworm` (~61 MB compressed, 6700 files;
#            the tree is built once and kept in $BENCH_CACHE, default /var/tmp/skiff-bench-cache).
# Compared: `skiff pull` into an empty store (download, verify, unpack, register) and
# `skopeo copy docker://... oci:DIR` (download only) and `podman pull` when installed.
# Unpacking alone is set against `tar -x` of the same layer on the same disk (creating files
# here costs ~1 ms each on ext4).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install hyperfine docker-registry skopeo python3)" >&2; exit 1; }
done
cargo build --release -q
SKIFF=$PWD/target/release/skiff
cache=${BENCH_CACHE:-/var/tmp/skiff-bench-cache}
mkdir -p "$cache"
if [ ! -x "$cache/minbase/bin/sh" ]; then
    command -v debootstrap >/dev/null || { echo "bench: apt-get install debootstrap" >&2; exit 1; }
    rm -rf "$cache/minbase"
    debootstrap --variant=minbase bookworm "$cache/minbase" http://deb.debian.org/debian >"$cache/debootstrap.log"
    rm -f "$cache"/minbase/var/cache/apt/archives/*.deb
fi

work=$(mktemp -d /var/tmp/skiff-bench-pull.XXXXXX)
registry_pid=
trap '[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT

# The registry, on a free port of 127.0.0.1.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null && break
    sleep 0.1
done
reg=127.0.0.1:$port

# OCI layouts: one directory per layer, each tarred and gzipped here.
mkdir -p "$work/src/random40" "$work/src/random10"
for i in $(seq 40); do head -c 1000000 /dev/urandom >"$work/src/random40/f$i"; done
for i in $(seq 10); do head -c 1000000 /dev/urandom >"$work/src/random10/f$i"; done
mkdir -p "$work/src/doc/usr/share" && cp -a /usr/share/doc "$work/src/doc/usr/share/"
make_layout() { # OUT DIR...
    python3 - "$@" <<'PY'
import gzip, hashlib, json, os, subprocess, sys
out, dirs = sys.argv[1], sys.argv[2:]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
layers, diff_ids = [], []
for d in dirs:
    tar = subprocess.run(["tar", "-C", d, "--numeric-owner", "-c", "."], check=True, capture_output=True).stdout
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    digest, size = put(gzip.compress(tar, 6))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cdigest, csize = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": layers}
mdigest, msize = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": manifest["mediaType"], "digest": mdigest, "size": msize}]},
          open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
print(f"{out}: {len(layers)} layers, {sum(l['size'] for l in layers) / 1e6:.1f} MB compressed")
PY
}
make_layout "$work/big" "$work/src/random40" "$work/src/doc" "$work/src/random10"
make_layout "$work/minbase" "$cache/minbase"
for img in big minbase; do
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/$img" "docker://$reg/bench/$img:1"
done
du -sh --apparent-size "$work/src/random40" "$work/src/doc" "$work/src/random10" "$cache/minbase" | sed 's/^/unpacked: /'

R="--root $work/store --runroot $work/run"
fresh="rm -rf $work/store $work/run $work/oci"
for img in big minbase; do
    echo "== pull $img"
    cmds=(-n "skiff pull" "$SKIFF $R pull -q $reg/bench/$img:1"
          -n "skopeo copy (download only)" "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$reg/bench/$img:1 oci:$work/oci")
    if command -v podman >/dev/null; then
        cmds+=(-n "podman pull" "podman --root $work/podman pull -q --tls-verify=false $reg/bench/$img:1")
        fresh="$fresh $work/podman"
    fi
    hyperfine -N -w 1 -r 5 --prepare "$fresh" "${cmds[@]}" --export-markdown "$work/pull-$img.md"
    cat "$work/pull-$img.md"
done

# Unpack throughput: skiff's unpacking of the minbase layer (import of the gzipped tar,
# which hashes and unpacks) against tar -x of the same stream, both into this disk.
layer=$(python3 -c "import json,sys; m=json.load(open('$work/minbase/blobs/sha256/'+json.load(open('$work/minbase/index.json'))['manifests'][0]['digest'][7:])); print(m['layers'][0]['digest'][7:])")
blob=$work/minbase/blobs/sha256/$layer
mb=$(du -sm --apparent-size "$cache/minbase" | cut -f1)
echo "== unpack minbase (${mb} MB, $(find "$cache/minbase" | wc -l) entries)"
hyperfine -N -w 1 -r 5 --prepare "rm -rf $work/store $work/run $work/tarx" \
    -n "skiff import (gunzip, hash, unpack)" "sh -c '$SKIFF $R import - x < $blob'" \
    -n "tar -xzf" "sh -c 'mkdir -p $work/tarx && tar -C $work/tarx -xzf $blob'" \
    --export-json "$work/unpack.json" --export-markdown "$work/unpack.md"
cat "$work/unpack.md"
python3 -c "
import json; r = json.load(open('$work/unpack.json'))['results']
for x in r: print(f\"{x['command']}: {$mb / x['mean']:.0f} MB/s unpacked\")"
