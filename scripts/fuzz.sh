#!/bin/bash
# Builds the libFuzzer targets under Fuzz/ and runs each for a fixed time.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 20); TARGET is any of: config cniargs result ec2xml (default: all).
#
# The targets are not SwiftPM targets (a normal `swift build` never sees them). This script compiles the modules
# they need straight from Sources/ with swiftc -O -sanitize=fuzzer,address into .build-fuzz/ (a module is rebuilt
# only when a source is newer than its object), in the order of Package.swift's own target graph (read with
# `swift package dump-package`: no second copy of it here), then links one binary per target:
#   config   Fuzz/config/main.swift compiled INTO the ENIMultusCore module (so the internal `eni` block parser is
#            reachable without @testable); JSON, CNI NetConf, IPAM IPAMConfig, EC2NetworkConfig, prevResult
#   cniargs  CNI_ARGS, IPAddress/IPPrefix/MACAddress, container id and ifname validation
#   result   CNIResult.decode and printing in every CNI version
#   ec2xml   expat-backed XMLParser, every EC2Client response decoder, error documents, STS web identity
# Fuzz/Common/*.swift (invariant checks, the JSON round trip) is compiled into every target.
#
# Each run works on a copy of Fuzz/corpus/TARGET (the repository is never modified) with the dictionary
# Fuzz/dict/TARGET.dict, after replaying each of Fuzz/crashes/TARGET/* (reproducers of fixed bugs) once.
# Prints per target the executions, exec/s, corpus size and crashes (crash/leak/timeout/oom artifacts); the
# artifacts stay in .build-fuzz/run/TARGET/artifacts. Exits non-zero on a build failure or any finding.
#
# Needs: Swift (with its libFuzzer runtime), libmnl-dev, libcurl4-openssl-dev and libssl-dev headers (as the
# normal build), and at run time libexpat.so.1 and libcrypto.so.3 (dlopen'ed by the AWS module).
#
# Environment:
#   ENI_MULTUS_FUZZ_ARGS      extra libFuzzer flags for every run (e.g. -seed=1)
#   ENI_MULTUS_FUZZ_PARALLEL  targets run at the same time (default: 2 on two or more cores, else 1)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
command -v swiftc >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

all_targets=(config cniargs result ec2xml)
seconds=20
targets=()
for a in "$@"; do
	case "$a" in
	config|cniargs|result|ec2xml) targets+=("$a") ;;
	-h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*[!0-9]*|'') echo "fuzz.sh: unknown argument $a" >&2; exit 2 ;;
	*) seconds=$a ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

out="$root/.build-fuzz"
obj="$out/obj"
mkdir -p "$obj"
flags=(-O -sanitize=fuzzer,address -parse-as-library -wmo -g -I "$obj"
	-I "$root/Sources/CLibmnl" -I "$root/Sources/CAWSShims")
# Objects built with other flags or another compiler are thrown away.
stamp="$(swiftc --version 2>&1 | head -1) ${flags[*]}"
if [ "$(cat "$out/flags" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "${obj:?}"/* "$out/bin"
	echo "$stamp" >"$out/flags"
fi
mkdir -p "$out/bin"

# newer OUTPUT INPUT...: true when OUTPUT is missing or older than any input.
stale() {
	local o=$1; shift
	[ -e "$o" ] || return 0
	[ -n "$(find "$@" -newer "$o" -print -quit 2>/dev/null)" ]
}

# module NAME DEP...: Sources/NAME/*.swift -> obj/NAME.o + NAME.swiftmodule
module() {
	local name=$1; shift
	local deps=()
	for d in "$@"; do deps+=("$obj/$d.o"); done
	stale "$obj/$name.o" "$root/Sources/$name" "${deps[@]}" || return 0
	swiftc "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$obj/$name.swiftmodule" \
		-c -o "$obj/$name.o" "$root/Sources/$name"/*.swift 2>"$obj/$name.log" || {
		cat "$obj/$name.log" >&2
		echo "fuzz.sh: building module $name failed" >&2
		return 1
	}
}

# link TARGET MODULE-NAME "EXTRA SOURCES" OBJECT...: Fuzz/TARGET/main.swift (+ Common) -> bin/fuzz-TARGET
link() {
	local target=$1 modname=$2 extra=$3; shift 3
	local objs=()
	for d in "$@"; do objs+=("$obj/$d.o"); done
	# shellcheck disable=SC2086
	stale "$out/bin/fuzz-$target" "$root/Fuzz/$target" "$root/Fuzz/Common" "${objs[@]}" $extra || return 0
	# In bin/: with -g the driver also writes the main module's .swiftmodule/.swiftdoc into the current directory.
	# shellcheck disable=SC2086
	(cd "$out/bin" && swiftc "${flags[@]}" -module-name "$modname" -o "$out/bin/fuzz-$target" \
		"$root/Fuzz/$target/main.swift" "$root/Fuzz/Common"/*.swift $extra "${objs[@]}" -lmnl) \
		2>"$out/bin/fuzz-$target.log" || {
		cat "$out/bin/fuzz-$target.log" >&2
		echo "fuzz.sh: building fuzz target $target failed" >&2
		return 1
	}
}

# Runs the given commands in the background, two at a time at most (the machine's cores), and fails if any did.
pair() {
	local pids=() rc=0
	for cmd in "$@"; do eval "$cmd" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}

want() { local t; for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

# The package's target graph: deps[NAME]="DEP..." for every Swift and system-library target.
declare -A deps kind
while read -r name type rest; do
	deps[$name]=$rest
	kind[$name]=$type
done < <(swift package dump-package 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin)["targets"]:
    if t["type"] in ("regular", "system"):
        ds = [d.get("byName", d.get("target", [None]))[0] for d in t.get("dependencies", [])]
        print(t["name"], t["type"], *[d for d in ds if d])
')
[ ${#deps[@]} -gt 0 ] || { echo "fuzz.sh: swift package dump-package gave no targets" >&2; exit 1; }

# closure NAME: NAME's Swift module dependencies, transitively, each after its own (system libraries are headers
# found through -I, linked with -lmnl).
closure() {
	local -A seen=()
	local order=()
	visit() {
		local d
		for d in ${deps[$1]}; do
			[ -n "${seen[$d]:-}" ] && continue
			seen[$d]=1
			visit "$d"
			[ "${kind[$d]}" = regular ] && order+=("$d")
		done
	}
	visit "$1"
	echo "${order[@]}"
}

# modules NAME...: builds every module NAME needs and NAME itself, dependencies first.
declare -A built=()
modules() {
	local m d
	for m in "$@"; do
		for d in $(closure "$m") $m; do
			[ -n "${built[$d]:-}" ] && continue
			# shellcheck disable=SC2086
			module "$d" ${deps[$d]} || return 1
			built[$d]=1
		done
	done
}

build_start=$(date +%s)
echo "==> building fuzz targets (${targets[*]}) into .build-fuzz"
ok=1
need=()
want config && need+=($(closure ENIMultusCore))
{ want cniargs || want result; } && need+=(CNI)
want ec2xml && need+=(AWS)
modules "${need[@]}" || ok=0
if [ $ok = 1 ]; then
	core_sources=$(ls "$root"/Sources/ENIMultusCore/*.swift | tr '\n' ' ')
	jobs=()
	want config && jobs+=("link config ENIMultusCore '$core_sources' $(closure ENIMultusCore)")
	small=""
	want cniargs && small+="link cniargs FuzzCNIArgs '' $(closure CNI) CNI && "
	want result && small+="link result FuzzResult '' $(closure CNI) CNI && "
	want ec2xml && small+="link ec2xml FuzzEC2XML '' $(closure AWS) AWS && "
	[ -n "$small" ] && jobs+=("${small}true")
	pair "${jobs[@]}" || ok=0
fi
build_time=$(( $(date +%s) - build_start ))
if [ $ok != 1 ]; then
	echo "fuzz.sh: build failed after ${build_time}s" >&2
	exit 1
fi
echo "built in ${build_time}s"

# ---------- run ----------
declare -A max_len=([config]=4096 [cniargs]=512 [result]=4096 [ec2xml]=8192)
# shellcheck disable=SC2206
extra_args=(${ENI_MULTUS_FUZZ_ARGS:-})

# run_target TARGET: one libFuzzer run; writes the summary row to .build-fuzz/run/TARGET/row and fails on a finding.
run_target() {
	local t=$1
	local bin="$out/bin/fuzz-$t" work="$out/run/$t" note="" failed=0
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts"
	cp "$root/Fuzz/corpus/$t"/* "$work/corpus/"
	# Committed reproducers, one run each (libFuzzer stops at the first input that fails).
	local f replayed=0 regressed=0
	for f in "$root/Fuzz/crashes/$t"/*; do
		[ -f "$f" ] || continue
		replayed=$((replayed + 1))
		if ! "$bin" "$f" >>"$work/replay.log" 2>&1; then
			echo "^^^ reproducer $f fails again" >>"$work/replay.log"
			regressed=$((regressed + 1))
		fi
	done
	if [ $regressed != 0 ]; then
		note="$regressed of $replayed reproducer(s) in Fuzz/crashes/$t FAIL; "
		failed=1
	elif [ $replayed != 0 ]; then
		note="$replayed reproducer(s) pass; "
	fi
	local dict=()
	[ -f "$root/Fuzz/dict/$t.dict" ] && dict=(-dict="$root/Fuzz/dict/$t.dict")
	local start rc
	start=$(date +%s)
	"$bin" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${extra_args[@]}" \
		>"$work/fuzz.log" 2>&1
	rc=$?
	local took execs rate cov findings corpus
	took=$(( $(date +%s) - start ))
	execs=$(awk '/stat::number_of_executed_units/ { v = $NF } END { print v + 0 }' "$work/fuzz.log")
	rate=$(awk '/stat::average_exec_per_sec/ { v = $NF } END { print v + 0 }' "$work/fuzz.log")
	cov=$(grep -Eo 'cov: [0-9]+' "$work/fuzz.log" | tail -1 | awk '{ print $2 }')
	findings=$(ls "$work/artifacts" | grep -Ec '^(crash|leak|timeout|oom|slow-unit)-' || true)
	corpus=$(ls "$work/corpus" | wc -l)
	if [ "$rc" != 0 ] || [ "$findings" != 0 ]; then
		failed=1
		note+="FAILED (libFuzzer status $rc)"
	elif [ $failed = 0 ]; then
		note+="ok"
	else
		note+="run ok"
	fi
	printf '%-8s %10s %8s %6s %7s %8s %5ss  %s\n' "$t" "$execs" "$rate" "${cov:-?}" "$corpus" "$findings" "$took" \
		"$note" >"$work/row"
	return $failed
}

# The Swift runtime's crash handler reads the crashed process's memory through a helper that ASan reports as a
# wild read, burying the real report: libFuzzer and ASan print the stack instead.
export SWIFT_BACKTRACE=enable=no

# Two targets at a time when the machine has two cores or more (ENI_MULTUS_FUZZ_PARALLEL overrides).
parallel=${ENI_MULTUS_FUZZ_PARALLEL:-$(( $(nproc) >= 2 ? 2 : 1 ))}
echo
echo "==> running ${targets[*]}: ${seconds}s each, $parallel at a time"
run_start=$(date +%s)
status=0
i=0
while [ $i -lt ${#targets[@]} ]; do
	batch=("${targets[@]:$i:$parallel}")
	pids=()
	for t in "${batch[@]}"; do run_target "$t" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || status=1; done
	i=$((i + parallel))
done
run_time=$(( $(date +%s) - run_start ))

for t in "${targets[@]}"; do
	work="$out/run/$t"
	grep -q ' ok$' "$work/row" 2>/dev/null && continue
	echo
	if grep -q 'reproducer.*FAIL' "$work/row"; then
		echo "--- $t: replay of Fuzz/crashes/$t ($work/replay.log)"
		grep -E 'invariant violated|ERROR: |SUMMARY|^\^\^\^' "$work/replay.log"
	fi
	grep -q 'FAILED' "$work/row" || continue
	echo "--- $t: last lines of $work/fuzz.log"
	grep -v '^#[0-9]' "$work/fuzz.log" | tail -40
	echo "--- $t: artifacts (keep a reproducer in Fuzz/crashes/$t/ once the bug is fixed)"
	ls -1 "$work/artifacts" | sed "s|^|  $work/artifacts/|"
done

echo
echo "==> fuzz summary (${seconds}s per target; build ${build_time}s, runs ${run_time}s)"
printf '%-8s %10s %8s %6s %7s %8s %6s  %s\n' target execs exec/s cov corpus crashes time status
for t in "${targets[@]}"; do cat "$out/run/$t/row" 2>/dev/null || echo "$t: no result"; done
if [ $status = 0 ]; then echo "fuzz: 0 crashes"; else echo "fuzz: FAILED"; fi
exit $status
