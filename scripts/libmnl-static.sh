#!/bin/bash
# Debian's libmnl as a static archive, for the plugin's static executable (scripts/build-release.sh):
#
#   bash scripts/libmnl-static.sh DIR      puts libmnl.a, libmnl's copyright file and SOURCE (which package it came
#                                          from) in DIR; prints DIR. scripts/build-image.sh ships the last two.
#
# Bookworm's libmnl-dev ships only libmnl.so; trixie's (1.0.5-3, built with --enable-static) ships libmnl.a. The
# package is fetched from Debian's archive, its SHA-256 checked against the list below (the first of these builds
# the archive still serves), and only the archive and the copyright file are extracted: nothing is installed. libmnl is LGPL-2.1+; linking it statically is allowed because this repository is
# the complete source of the program (LGPL-2.1 section 6a): anyone can relink it against another libmnl.a.
# The headers stay those of the build machine's libmnl-dev (1.0.4 on bookworm): the API and ABI are the same.
set -euo pipefail
dir=${1:?usage: libmnl-static.sh DIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$arch" in
amd64 | x86_64)
	arch=amd64 multiarch=x86_64-linux-gnu
	builds="1.0.5-3+b2 75e448c0a9f480a10bc3d05cc042fd68638deca2c988527c2f68962a0d32ecbb
1.0.5-3+b1 376202c3b287ce2401436a179c48817693dbe439fac4b3371fbcfa66888b65df
1.0.5-3 7f9a7c3f470ec400171981816df189ec86b11083c3f8d391d0800ed09a87bfc3" ;;
arm64 | aarch64)
	arch=arm64 multiarch=aarch64-linux-gnu
	builds="1.0.5-3+b2 c6dbb8f282f8fe4a3e965d1d146591caf9cd1141e204cfc690cf580dd1e3fb8f
1.0.5-3 046ecea98bfb827fffdc9a19c3efd75b9862995e3532987a9272787e70a3a9b6" ;;
*) echo "libmnl-static.sh: no pinned libmnl-dev build for $arch" >&2; exit 1 ;;
esac
if [ -s "$dir/libmnl.a" ] && [ -s "$dir/copyright" ] && [ -s "$dir/SOURCE" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {  # URL FILE: curl where there is one (the Swift image), else Python (a fresh Debian machine has one)
	if command -v curl >/dev/null; then curl -fsS --retry 2 -m 120 -o "$2" "$1"
	else python3 -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=120).read())' "$1" "$2"
	fi
}
tried=""
while read -r version sum; do
	deb=$tmp/libmnl-dev_${version}_$arch.deb
	url=$mirror/pool/main/libm/libmnl/libmnl-dev_${version}_$arch.deb
	fetch "$url" "$deb" 2>/dev/null || { tried+=" $version (not in the archive)"; continue; }
	if [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$sum" ]; then tried+=" $version (checksum mismatch)"; continue; fi
	dpkg-deb -x "$deb" "$tmp/root"
	install -m 0644 "$tmp/root/usr/lib/$multiarch/libmnl.a" "$dir/libmnl.a.tmp"
	install -m 0644 "$tmp/root/usr/share/doc/libmnl-dev/copyright" "$dir/copyright"
	echo "libmnl-dev $version ($arch) from $url" >"$dir/SOURCE"
	mv "$dir/libmnl.a.tmp" "$dir/libmnl.a"
	echo "$dir"
	exit 0
done <<<"$builds"
echo "libmnl-static.sh: no libmnl-dev build with a pinned checksum could be fetched from $mirror:$tried" >&2
exit 1
