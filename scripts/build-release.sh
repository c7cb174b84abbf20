#!/bin/bash
# The plugin's release build, as shipped (install/Containerfile) and as benchmarked (bench/run.sh):
#
#   bash scripts/build-release.sh [--scratch-path DIR] [extra swift build arguments]
#
# prints the path of the built (unstripped) binary on its last line.
#
# One static executable (-static-executable): the Swift runtime, glibc, libstdc++ and libmnl are linked in, so the
# binary asks nothing of the node (no program interpreter, no NEEDED entry: it runs the same on Amazon Linux 2023's
# glibc 2.34, on Bottlerocket and chrooted into whatever root Multus thick enters) and loads nothing by dlopen (EC2
# goes through the node agent's socket). scripts/check-binary.sh holds the result to that contract and runs it in a
# root that holds nothing but the binary.
# libmnl.a comes from Debian's libmnl-dev as trixie builds it (scripts/libmnl-static.sh: pinned checksums, LGPL-2.1
# section 6a); the headers are the build machine's libmnl-dev.
# Measured (bench/RESULTS.md, "The static executable"): against the previous build (Swift runtime static, glibc,
# libgcc_s and libmnl shared) VERSION 84 -> 37 syscalls, peak RSS 3,420 -> 1,776 kB, no ld.so at all; +0.4 MB of
# glibc in the file.
# libstdc++: the Swift runtime's link file asks for -lstdc++; a directory holding only GCC's libstdc++.a, searched
# first (-L), makes it the archive.
# The link prints one warning, for a dlopen in the Swift runtime (LibPrespecialized) that runs only when a
# SWIFT_DEBUG_ environment variable names a library; the plugin never calls dlopen.
# BUILD_LINK=dynamic builds the previous shipped variant instead (glibc, libgcc_s and libmnl shared, no glibc symbol
# newer than 2.34 thanks to CGlibcCompat): for bench/run.sh's comparison and where no libmnl.a can be had. There,
# libgcc_s is shared (-static-libgcc's unwinder wants _dl_find_object@GLIBC_2.35), and --disable-local-rpath keeps
# SwiftPM's RUNPATH $ORIGIN out: ld.so would probe ~36 paths beside the binary for libmnl.so.0 on every exec
# (VERSION 125 -> 84 syscalls) and load any libmnl.so.0 dropped next to the plugin in /opt/cni/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scratch=.build
if [ "${1:-}" = --scratch-path ]; then scratch=$2; shift 2; fi
cxx=
for cc in gcc clang; do  # the Swift toolchain's clang finds the same GCC installation
	c=$($cc -print-file-name=libstdc++.a 2>/dev/null) || continue
	if [ -f "$c" ]; then cxx=$c; break; fi
done
if [ -z "$cxx" ]; then
	echo "build-release.sh: GCC's libstdc++.a not found (Debian: libstdc++-12-dev, pulled in by g++)" >&2
	exit 1
fi
mkdir -p "$scratch/static-libstdcxx"
ln -sfn "$cxx" "$scratch/static-libstdcxx/libstdc++.a"
cxxdir=$(cd "$scratch/static-libstdcxx" && pwd)
case "${BUILD_LINK:-static}" in
static)
	mnldir=$(bash scripts/libmnl-static.sh "$scratch/libmnl-static" | tail -1)
	mnldir=$(cd "$mnldir" && pwd)
	link=(-Xswiftc -static-executable -Xlinker -L"$mnldir") ;;
dynamic) link=(--static-swift-stdlib) ;;
*) echo "build-release.sh: BUILD_LINK is static or dynamic" >&2; exit 2 ;;
esac
swift build -c release --product eni-multus --scratch-path "$scratch" "${link[@]}" \
	--disable-local-rpath -Xswiftc -L"$cxxdir" "$@" >&2
bin="$scratch/release/eni-multus"
if [ "${BUILD_LINK:-static}" = static ] && readelf -l "$bin" | grep -q -E 'INTERP|DYNAMIC'; then
	echo "build-release.sh: $bin is not a static executable:" >&2
	readelf -l "$bin" | grep -E 'INTERP|DYNAMIC' >&2
	exit 1
fi
if [ "${BUILD_LINK:-static}" = dynamic ] && ldd "$bin" | grep -q -E 'libstdc\+\+'; then
	echo "build-release.sh: $bin still needs libstdc++.so:" >&2
	ldd "$bin" >&2
	exit 1
fi
echo "$bin"
