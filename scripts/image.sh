#!/usr/bin/env bash
# Builds the release binary and a minimal OCI image of it with buildah (no daemon), and writes the
# image as an OCI archive under build/. The last line printed is the archive's path, relative to
# the repository root.
#
#   bash scripts/image.sh
#
# The image is FROM scratch: the binary, exactly the shared libraries `ldd` lists (at their own
# paths, so the dynamic loader finds them as on the build machine), CA certificates, a passwd and
# group entry for uid/gid 65532 and an empty /tmp. No shell, no package manager. It runs as 65532
# and its ENTRYPOINT is the binary, so Kubernetes `args: ["run"]` is the whole command line.
# Reproducible: every file and the image's creation time carry the commit's timestamp
# (SOURCE_DATE_EPOCH), so the same commit built on the same Debian release gives the same layer.
#
# Environment:
#   WACONN_IMAGE_SOURCE  value of the org.opencontainers.image.source label (default: the git
#                        remote "origin", else "waconnector")
#   WACONN_BUILD_DIR     build directory (default build)
#   BUILDAH              buildah command (default buildah)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

build_dir=${WACONN_BUILD_DIR:-build}
buildah_bin=${BUILDAH:-buildah}
command -v "$buildah_bin" >/dev/null || { echo "image.sh: buildah not found (bash scripts/install-deps.sh)" >&2; exit 1; }

# 1. The release binary (only the target the image needs).
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"${WACONN_JOBS:-2}" --target waconnector >/dev/null
bin="$build_dir/bin/waconnector"
[ -x "$bin" ] || { echo "image.sh: $bin was not built" >&2; exit 1; }

version=$(sed -n 's/^project(waconnector VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "image.sh: no project version in CMakeLists.txt" >&2; exit 1; }
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
# Credentials in a remote URL (https://user:token@...) must never end up in a label.
source_label=${WACONN_IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null | sed 's#//[^/@]*@#//#' || true)}
source_label=${source_label:-waconnector}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
name="waconnector:$version"
archive="$build_dir/waconnector-$version.oci.tar"

work=$(mktemp -d "$root/$build_dir/image.XXXXXX")
cleanup() {
  # vfs storage holds root-owned copies of the layer; remove it together with the staging tree.
  "$buildah_bin" --root "$work/storage" --runroot "$work/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 2. The root filesystem.
rootfs="$work/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
install -m 0755 "$bin" "$rootfs/usr/local/bin/waconnector"
strip --strip-unneeded "$rootfs/usr/local/bin/waconnector"
# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the loader.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || { echo "image.sh: ldd listed no libraries for $bin" >&2; exit 1; }
if ldd "$bin" | grep -q 'not found'; then echo "image.sh: unresolved libraries:" >&2; ldd "$bin" >&2; exit 1; fi
for l in $libs; do
  mkdir -p "$rootfs$(dirname "$l")"
  cp -L "$l" "$rootfs$l"
done
# Debian's merged /usr: the loader path compiled into the binary (/lib64/...) is a symlink there.
for d in lib lib64; do
  if [ -L "/$d" ] && [ -d "$rootfs/$d" ] && [ ! -L "$rootfs/$d" ]; then
    mkdir -p "$rootfs/usr/$d"
    cp -a "$rootfs/$d/." "$rootfs/usr/$d/"
    rm -rf "${rootfs:?}/$d"
    ln -s "usr/$d" "$rootfs/$d"
  fi
done
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
# glibc resolves hosts through /etc/hosts and DNS (Kubernetes mounts both files).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
find "$rootfs" -exec touch -h -d "@$epoch" {} +

# 3. The image (vfs storage in the temporary directory: no daemon, nothing left behind).
b=("$buildah_bin" --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
ctr=$("${b[@]}" from --quiet scratch)
"${b[@]}" copy --quiet "$ctr" "$rootfs/" / >/dev/null
"${b[@]}" config \
  --entrypoint '["/usr/local/bin/waconnector"]' --cmd '["--help"]' \
  --user 65532:65532 --workingdir / \
  --env PATH=/usr/local/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --port 8080/tcp \
  --label "org.opencontainers.image.title=waconnector" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$source_label" \
  --label "org.opencontainers.image.created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" \
  --os linux --arch "$(dpkg --print-architecture 2>/dev/null || uname -m)" \
  "$ctr"
"${b[@]}" commit --quiet --format oci --timestamp "$epoch" --rm "$ctr" "$name" >/dev/null
rm -f "$archive"
"${b[@]}" push --quiet "$name" "oci-archive:$archive:$name" >/dev/null

size=$(stat -c %s "$archive")
echo "image.sh: $name (revision $revision) -> $archive, $size bytes ($(du -h "$archive" | cut -f1)), libraries: $(echo "$libs" | wc -l)" >&2
echo "$archive"
