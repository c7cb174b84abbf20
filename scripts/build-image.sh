#!/bin/bash
# Builds the node image with podman, from nothing but Debian's packages and this tree (no registry is pulled):
#
#   bash scripts/build-image.sh [--tag REF]     the image; its reference is the last line printed
#   bash scripts/build-image.sh --artefacts DIR the shipped binaries only, laid out as in the image (DIR/opt/...,
#                                               DIR/usr/local/bin/...): what install/Containerfile's build stage runs
#
# 1. The binaries, as shipped: the plugin from scripts/build-release.sh, the node binary with the Swift runtime
#    linked in; both stripped. They land in .build/image/out (opt/eni-multus/bin/eni-multus,
#    usr/local/bin/eni-multus-node), with the copyright notice of the libmnl linked into the plugin
#    (usr/share/doc/eni-multus/libmnl.copyright).
# 2. The base: a minbase root of Debian 12 with install/Containerfile's RUNTIME_PACKAGES, made by mmdebstrap
#    (documentation, man pages and locales left out) and `podman import`ed as localhost/eni-multus-base:<hash of
#    the package list>; kept and reused while the list is unchanged.
# 3. `podman build --target prebuilt` of install/Containerfile with that base, tagged REF (default
#    localhost/eni-multus:<git commit>, `-dirty` when the tree has changes).
# Needs root (mmdebstrap, podman rootful), podman, mmdebstrap: `bash scripts/setup.sh image` installs them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"

artefacts() { # DIR: build and lay out the two binaries
	local out=$1 plugin node
	plugin=$(bash scripts/build-release.sh | tail -1)
	swift build -c release --product eni-multus-node --static-swift-stdlib >&2
	node="$(swift build -c release --show-bin-path)/eni-multus-node"
	rm -rf "$out"
	install -D -m 0755 "$plugin" "$out/opt/eni-multus/bin/eni-multus"
	install -D -m 0755 "$node" "$out/usr/local/bin/eni-multus-node"
	# libmnl is linked into the plugin: its licence notice and provenance travel with the image (LGPL-2.1).
	mnl=$(bash scripts/libmnl-static.sh .build/libmnl-static | tail -1)
	install -D -m 0644 "$mnl/copyright" "$out/usr/share/doc/eni-multus/libmnl.copyright"
	install -D -m 0644 "$mnl/SOURCE" "$out/usr/share/doc/eni-multus/libmnl.source"
	strip "$out/opt/eni-multus/bin/eni-multus" "$out/usr/local/bin/eni-multus-node"
}

tag=""
case "${1:-}" in
--artefacts) [ -n "${2:-}" ] || { echo "build-image.sh: --artefacts DIR" >&2; exit 2; }; artefacts "$2"; exit 0 ;;
--tag) tag=${2:?--tag REF} ;;
"") ;;
*) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "build-image.sh: run as root (mmdebstrap and podman build)" >&2; exit 1; }
for c in podman mmdebstrap strip; do
	command -v "$c" >/dev/null || { echo "build-image.sh: $c is missing: bash scripts/setup.sh image" >&2; exit 1; }
done
if [ -z "$tag" ]; then
	rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
	[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || rev+=-dirty
	tag=localhost/eni-multus:$rev
fi

start=$(date +%s)
stage=.build/image
mkdir -p "$stage"
echo "==> binaries" >&2
artefacts "$stage/out"

packages=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' install/Containerfile)
[ -n "$packages" ] || { echo "build-image.sh: no RUNTIME_PACKAGES in install/Containerfile" >&2; exit 1; }
base=localhost/eni-multus-base:$(echo "bookworm minbase $packages" | sha256sum | cut -c1-12)
if podman image exists "$base"; then
	echo "==> base $base (kept)" >&2
else
	echo "==> base $base: mmdebstrap minbase + $packages" >&2
	tarball=$stage/base.tar
	mmdebstrap --quiet --variant=minbase --include="${packages// /,}" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		bookworm "$tarball" >&2
	podman import --quiet "$tarball" "$base" >&2
	rm -f "$tarball"
fi

echo "==> podman build --target prebuilt -t $tag" >&2
cp install/Containerfile "$stage/Containerfile"
podman build --quiet --target prebuilt --build-arg RUNTIME_BASE="$base" -t "$tag" -f "$stage/Containerfile" "$stage" >&2
size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "==> $tag: $((size / 1000000)) MB, built in $(( $(date +%s) - start )) s" >&2
echo "$tag"
