#!/bin/bash
# Runs the unit tier once under AddressSanitizer.
#
#   bash scripts/asan.sh [TIER...]
#
# Builds the package and its tests with `swift build --build-tests --sanitize=address` into .build-asan (the
# normal .build is untouched), then runs scripts/test.sh --no-build on that build (ENI_MULTUS_SCRATCH=.build-asan;
# default tier: unit). The plugin binaries the tests execute are instrumented too. Every process writes its ASan
# reports to .build-asan/asan-logs/; any report (memory error or leak) fails the run and is printed, as does any
# failed test. Leaks inside the toolchain's Foundation (used by test helpers only) are suppressed by
# scripts/lsan.supp. Results: .build-asan/test-results.
#
# Environment:
#   ENI_MULTUS_ASAN_OPTIONS  extra ASAN_OPTIONS (colon-separated), appended to the defaults below
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(unit)
scratch="$root/.build-asan"
logs="$scratch/asan-logs"

start=$(date +%s)
echo "==> swift build --build-tests --sanitize=address --scratch-path .build-asan"
if ! swift build --build-tests --sanitize=address --scratch-path "$scratch"; then
	echo "asan.sh: build failed" >&2
	echo "asan: FAILED (build)"
	exit 1
fi
build_time=$(( $(date +%s) - start ))

rm -rf "$logs"
mkdir -p "$logs"
# log_path: reports of every process (test bundle, plugin subprocesses) land in files, whatever the process does
# with its stderr. detect_leaks stays on (the default on Linux).
export ASAN_OPTIONS="log_path=$logs/asan:abort_on_error=0:detect_stack_use_after_return=0${ENI_MULTUS_ASAN_OPTIONS:+:$ENI_MULTUS_ASAN_OPTIONS}"
# Leaks inside the toolchain's Foundation, reached from test helpers only (see the file).
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
# The Swift runtime's crash handler reads memory in a way ASan reports as a wild read: let ASan print stacks.
export SWIFT_BACKTRACE=enable=no
ENI_MULTUS_SCRATCH="$scratch" bash scripts/test.sh --no-build "${tiers[@]}"
rc=$?
total=$(( $(date +%s) - start ))

reports=$(ls "$logs")
echo
if [ -n "$reports" ]; then
	echo "==> ASan reports ($(echo "$reports" | wc -l) file(s) in $logs):"
	for f in $reports; do
		echo "--- $f"
		head -60 "$logs/$f"
	done
fi
echo "asan: build ${build_time}s, total ${total}s"
if [ "$rc" != 0 ] || [ -n "$reports" ]; then
	echo "asan: FAILED (tests status $rc, $(echo -n "$reports" | grep -c .) report file(s))"
	exit 1
fi
echo "asan: no errors"
