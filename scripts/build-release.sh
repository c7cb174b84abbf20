#!/bin/bash
# The plugin's release build, as shipped (install/Containerfile) and as benchmarked (bench/run.sh):
#
#   bash scripts/build-release.sh [--scratch-path DIR] [extra swift build arguments]
#
# prints the path of the built (unstripped) binary on its last line.
#
# Linked statically: the Swift runtime (--static-swift-stdlib) and libstdc++. Dynamic: glibc (libc, libm, ld.so),
# libgcc_s and libmnl, which every EKS node OS has; nothing else, not even by dlopen (EC2 goes through the node
# agent's socket). scripts/check-binary.sh holds the result to the contract for what we install on nodes (those
# NEEDED entries only, no glibc symbol newer than GLIBC_2.34, Amazon Linux 2023's glibc, no AWS/HTTP/TLS/XML code)
# and runs it in a root that holds nothing else.
# glibc 2.34: libgcc_s is shared, because -static-libgcc's unwinder (libgcc_eh.a, built on glibc 2.36) calls
# _dl_find_object@GLIBC_2.35; arc4random@GLIBC_2.36 and hypotf@GLIBC_2.35, which the static Swift runtime refers
# to, are defined in the executable by the CGlibcCompat target.
# Measured (bench/RESULTS.md, "Release settings"): against --static-swift-stdlib alone, VERSION start-up about -30%
# and peak RSS about -1 MB: no libstdc++.so to map, relocate and initialise (symbol relocations at start 1,811 ->
# 142, LD_DEBUG=statistics).
# It also makes the binary independent of the node's libstdc++ (AL2's is GCC 7's, too old for the Swift runtime).
# --disable-local-rpath: SwiftPM's default RUNPATH $ORIGIN makes ld.so probe ~36 paths under the binary's own
# directory (glibc-hwcaps/x86-64-v4, tls/haswell, ...) for libmnl.so.0 on every exec before it reads ld.so.cache
# (VERSION: 125 -> 84 syscalls), and would load a libmnl.so.0 dropped next to the plugin in /opt/cni/bin.
# Not used, and why: -static-executable (fastest, now that the plugin dlopens nothing; but Debian ships no libmnl.a and its source package is not reachable from the build machines: bench/RESULTS.md);
# -z pack-relative-relocs (needs glibc >= 2.36 at run time; AL2023 has 2.34).
#
# libstdc++: the Swift runtime's link file asks for -lstdc++, which the linker resolves to the first libstdc++.so or
# libstdc++.a in its search path; a directory holding only GCC's libstdc++.a, searched first (-L), makes it the
# archive.
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
swift build -c release --product eni-multus --scratch-path "$scratch" --static-swift-stdlib \
	--disable-local-rpath -Xswiftc -L"$cxxdir" "$@" >&2
bin="$scratch/release/eni-multus"
if ldd "$bin" | grep -q -E 'libstdc\+\+'; then
	echo "build-release.sh: $bin still needs libstdc++.so:" >&2
	ldd "$bin" >&2
	exit 1
fi
echo "$bin"
