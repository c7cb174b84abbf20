#!/bin/bash
# The project's test command.
#
#   bash scripts/test.sh [--no-build] [TIER...]
#
# TIER is any of: unit host peer-host faults libcni kernel peer-kernel (default: all).
# Builds the debug test bundle once (swift build --build-tests), then runs the
# Swift Testing suites tier by tier, a tier being the first word of each
# top-level suite's type name:
#   unit         Unit…        on the host
#   host         Host…        on the host (root)
#   peer-host    PeerHost…    on the host (root, /usr/lib/cni)
#   faults       Faults…      on the host (root): hostile input, security checks
#   libcni       scripts/podman-e2e.sh on the host (root): Debian's podman (CNI backend) as a real libcni
#                client; one test, counted from the script's exit status (0 passed, 77 skipped: podman or
#                busybox-static missing, 1 failed); in CI a skip counts as a failure
#   kernel       Kernel…      inside user-mode Linux, with a real NIC as eth0
#   peer-kernel  PeerKernel…  inside user-mode Linux, with a real NIC as eth0
# Each tier runs the bundle directly:
#   BUNDLE --testing-library swift-testing --filter '^[^./]+\.Prefix'
#          --event-stream-output-path .build/test-results/TIER.jsonl ...
# with ENI_MULTUS_TIER=TIER (and, in UML, ENI_MULTUS_NIC=eth0), and counts
# passed / failed / skipped test functions from that JSON event stream
# (libcni: see above; its output goes to .build/test-results/libcni.log).
#
# Exits non-zero on a build failure, on any failed test, on a tier whose
# runner failed without recording why, on top-level suites that belong to no
# tier, on a Swift tier where the number of test functions the bundle lists
# for it (--list-tests) differs from the number the run accounted for (passed
# + failed + skipped), on network namespaces (emt…) the tiers left behind,
# and, when CI=true, on a tier that ran no test or skipped any test.
# The last line is always "N passed, N failed, N skipped".
#
# Environment:
#   ENI_MULTUS_TEST_ARGS   extra arguments for the test bundle (e.g. --no-parallel)
#   ENI_MULTUS_UML_MEM     UML memory (default 1G)
#   ENI_MULTUS_UML_TIMEOUT seconds per UML tier (default 1500)
#   ENI_MULTUS_NO_UML=1    skip the UML tiers (reported as not run)
#   ENI_MULTUS_SCRATCH     SwiftPM scratch path to build in and run from (default .build; results then go to
#                          SCRATCH/test-results): scripts/asan.sh uses .build-asan
#   ENI_MULTUS_PODMAN_TIMEOUT seconds for the libcni tier (default 600)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

all_tiers=(unit host peer-host faults libcni kernel peer-kernel)
build=1
tiers=()
for a in "$@"; do
	case "$a" in
	--no-build) build=0 ;;
	unit|host|peer-host|faults|libcni|kernel|peer-kernel) tiers+=("$a") ;;
	-h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
	*) echo "test.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
[ ${#tiers[@]} -gt 0 ] || tiers=("${all_tiers[@]}")
spm=()
[ -n "${ENI_MULTUS_SCRATCH:-}" ] && spm=(--scratch-path "$ENI_MULTUS_SCRATCH")

ci=0
case "${CI:-}" in true|TRUE|True|1|yes) ci=1 ;; esac

prefix_of() {
	case "$1" in
	unit) echo Unit ;; host) echo Host ;; peer-host) echo PeerHost ;; faults) echo Faults ;;
	kernel) echo Kernel ;; peer-kernel) echo PeerKernel ;;
	esac
}
in_uml() { [ "$1" = kernel ] || [ "$1" = peer-kernel ]; }

closing() { # passed failed skipped
	echo "$1 passed, $2 failed, $3 skipped"
}


# ---------- build ----------
if [ "$build" = 1 ]; then
	# What the tiers need (Debian packages, moto, cfn-lint): only those missing are installed, each named.
	if ! bash scripts/setup.sh test; then
		echo "test.sh: scripts/setup.sh test failed: the prerequisites above are missing" >&2
		closing 0 1 0
		exit 1
	fi
	echo "==> swift build --build-tests ${spm[*]}"
	if ! swift build --build-tests "${spm[@]}"; then
		echo "test.sh: build failed" >&2
		closing 0 1 0
		exit 1
	fi
fi
command -v jq >/dev/null || { echo "test.sh: jq is required (bash scripts/setup.sh test installs it)" >&2; closing 0 1 0; exit 1; }
bin=$(swift build "${spm[@]}" --show-bin-path 2>/dev/null) || bin="${ENI_MULTUS_SCRATCH:-$root/.build}/debug"
bundle=""
for b in "$bin"/*PackageTests.xctest; do [ -x "$b" ] && bundle=$b; done
if [ -z "$bundle" ]; then
	echo "test.sh: no test bundle in $bin (did the build produce tests?)" >&2
	closing 0 1 0
	exit 1
fi

results="${ENI_MULTUS_SCRATCH:-$root/.build}/test-results"
rm -rf "$results"
mkdir -p "$results"

# ---------- which tests exist ----------
"$bundle" --testing-library swift-testing --list-tests \
	--event-stream-output-path "$results/list.jsonl" --event-stream-version 0 >/dev/null 2>"$results/list.err"
list_rc=$?
if [ ! -s "$results/list.jsonl" ] && [ "$list_rc" != 0 ]; then
	echo "test.sh: listing tests failed (status $list_rc):" >&2
	cat "$results/list.err" >&2
	closing 0 1 0
	exit 1
fi
# One line per test function: TIER<TAB>ID ("none" when no tier fits).
jq -r -s '
	.[] | select(.kind == "test" and .payload.kind == "function") | .payload.id
	| . as $id
	| (split("/")[0] | split(".")[1:] | join(".")) as $type
	| (if   ($type | startswith("PeerKernel")) then "peer-kernel"
	   elif ($type | startswith("PeerHost"))   then "peer-host"
	   elif ($type | startswith("Unit"))       then "unit"
	   elif ($type | startswith("Host"))       then "host"
	   elif ($type | startswith("Faults"))     then "faults"
	   elif ($type | startswith("Kernel"))     then "kernel"
	   else "none" end) + "\t" + $id
' < <(jq -R -c 'fromjson? // empty' "$results/list.jsonl") | sort -u >"$results/list.tsv"

untiered=$(awk -F'\t' '$1 == "none" { print $2 }' "$results/list.tsv")
xctests=$("$bundle" --list-tests 2>/dev/null | grep -v '^Listing ' | grep -v '^$' || true)

# ---------- counting ----------
# Reads one event stream; prints "passed failed skipped" and writes the names
# of failed and skipped tests to FILE.failed / FILE.skipped.
count_stream() {
	local f=$1
	# A runner killed mid-write can leave a torn last line: keep whole records.
	jq -R -c 'fromjson? // empty' "$f" | jq -r -s '
		def short: sub("/[^/]*\\.swift:[0-9]+:[0-9]+$"; "");
		def set: map({(.): true}) | add // {};
		([ .[] | select(.kind == "test" and .payload.kind == "function") | .payload.id ] | unique) as $funcs
		| [ .[] | select(.kind == "event") | .payload ] as $ev
		| ([ $ev[] | select(.kind == "issueRecorded"
		        and (.issue.isKnown != true)
		        and (.issue.isFailure != false)
		        and ((.issue._severity // .issue.severity // "error") != "warning"))
		      | (.testID // "<run>") ] | unique) as $issueIDs
		| ($issueIDs | set) as $issues
		| ([ $ev[] | select(.kind == "testSkipped") | .testID ] | set) as $skips
		| ([ $ev[] | select(.kind == "testEnded") | .testID ] | set) as $ends
		| [ $funcs[] | select($issues[.]) ] as $failed
		| [ $funcs[] | select(($issues[.] | not) and $skips[.]) ] as $skipped
		| [ $funcs[] | select(($issues[.] | not) and ($skips[.] | not) and $ends[.]) ] as $passed
		| [ $funcs[] | select(($issues[.] | not) and ($skips[.] | not) and ($ends[.] | not)) ] as $unfinished
		| ($funcs | set) as $isfunc
		| [ $issueIDs[] | . as $i
		    | select(($isfunc[$i] | not)
		             and ([ $failed[] | select(startswith($i + "/")) ] | length == 0)) ] as $other
		| { passed: ($passed | length),
		    failed: (($failed | length) + ($unfinished | length) + ($other | length)),
		    skipped: ($skipped | length),
		    failedNames: (($failed | map(short)) + ($unfinished | map(short + " (did not finish)"))
		                  + ($other | map(. + " (issue outside a test)"))),
		    skippedNames: ($skipped | map(short)) }
	' >"$f.summary.json" || return 1
	jq -r '.failedNames[]' "$f.summary.json" >"$f.failed"
	jq -r '.skippedNames[]' "$f.summary.json" >"$f.skipped"
	jq -r '"\(.passed) \(.failed) \(.skipped)"' "$f.summary.json"
}

declare -A P F S NOTE
total_p=0 total_f=0 total_s=0
problems=()

netns_before=$(ip netns list 2>/dev/null | awk '{print $1}' | grep '^emt' | sort || true)

# The libcni tier: one shell-run test (scripts/podman-e2e.sh), counted from its exit status; the names of a
# failed or skipped run go to $results/libcni.failed / .skipped like a Swift tier's.
run_libcni() {
	local log="$results/libcni.log" rc checks start
	P[libcni]=0 F[libcni]=0 S[libcni]=0 NOTE[libcni]=""
	echo
	echo "==> tier libcni: 1 test (scripts/podman-e2e.sh: podman, CNI backend, eni-multus host-device)"
	start=$(date +%s)
	timeout -k 10 "${ENI_MULTUS_PODMAN_TIMEOUT:-600}" \
		bash "$root/scripts/podman-e2e.sh" --plugin="$bin/eni-multus" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	checks=$(grep '^podman-e2e: ' "$log" | tail -1 | sed 's/^podman-e2e: //')
	NOTE[libcni]="$(( $(date +%s) - start ))s, ${checks:-no summary line}"
	case "$rc" in
	0)
		P[libcni]=1 ;;
	77)
		if [ "$ci" = 1 ]; then
			F[libcni]=1
			echo "podman-e2e (skipped, which CI does not allow: ${checks#skipped: })" >"$results/libcni.failed"
			problems+=("tier libcni: podman-e2e could not run in CI")
		else
			S[libcni]=1
			echo "podman-e2e (${checks#skipped: })" >"$results/libcni.skipped"
		fi ;;
	*)
		F[libcni]=1
		echo "podman-e2e (status $rc$([ "$rc" = 124 ] && echo ', timed out'); see $log)" >"$results/libcni.failed" ;;
	esac
}

for tier in "${tiers[@]}"; do
	if [ "$tier" = libcni ]; then
		run_libcni
		continue
	fi
	prefix=$(prefix_of "$tier")
	listed=$(awk -F'\t' -v t="$tier" '$1 == t' "$results/list.tsv" | wc -l)
	stream="$results/$tier.jsonl"
	P[$tier]=0 F[$tier]=0 S[$tier]=0 NOTE[$tier]=""
	echo
	echo "==> tier $tier: $listed test(s) ($prefix…)$(in_uml "$tier" && echo ' inside user-mode Linux')"
	if [ "$listed" = 0 ]; then
		NOTE[$tier]="no tests"
		continue
	fi
	if in_uml "$tier" && [ "${ENI_MULTUS_NO_UML:-0}" = 1 ]; then
		NOTE[$tier]="not run (ENI_MULTUS_NO_UML=1)"
		continue
	fi
	filter="^[^./]+\\.$prefix"
	# shellcheck disable=SC2206
	extra=(${ENI_MULTUS_TEST_ARGS:-})
	cmd=("$bundle" --testing-library swift-testing --filter "$filter"
		--event-stream-output-path "$stream" --event-stream-version 0
		--xunit-output "$results/$tier.xml" "${extra[@]}")
	start=$(date +%s)
	if in_uml "$tier"; then
		ENI_MULTUS_TIER=$tier ENI_MULTUS_NIC=eth0 \
			bash "$root/scripts/uml/run.sh" --nic emt-tap0 \
			--mem "${ENI_MULTUS_UML_MEM:-1G}" --timeout "${ENI_MULTUS_UML_TIMEOUT:-1500}" \
			-- "${cmd[@]}"
		rc=$?
	else
		ENI_MULTUS_TIER=$tier "${cmd[@]}"
		rc=$?
	fi
	NOTE[$tier]="$(( $(date +%s) - start ))s"
	if [ ! -s "$stream" ]; then
		echo "test.sh: tier $tier produced no results (runner status $rc)" >&2
		F[$tier]=1
		NOTE[$tier]+=", no results (status $rc)"
		problems+=("tier $tier: runner exited $rc without results")
	else
		read -r p f s < <(count_stream "$stream" || echo "0 1 0")
		P[$tier]=$p F[$tier]=$f S[$tier]=$s
		# Listed ≠ run: every test function the bundle lists for this tier must be accounted for by the run.
		if [ $((p + f + s)) != "$listed" ]; then
			NOTE[$tier]+=", $listed listed but $((p + f + s)) run"
			problems+=("tier $tier: the bundle lists $listed test(s), the run accounted for $((p + f + s))")
		fi
		# A runner that failed (crash, timeout) but recorded no failing test.
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			F[$tier]=1
			NOTE[$tier]+=", runner status $rc"
			problems+=("tier $tier: runner exited $rc")
		fi
	fi
done

netns_after=$(ip netns list 2>/dev/null | awk '{print $1}' | grep '^emt' | sort || true)
leaked=$(comm -13 <(echo "$netns_before") <(echo "$netns_after") | grep . || true)

# ---------- report ----------
echo
echo "==> summary"
printf '%-12s %7s %7s %8s  %s\n' tier passed failed skipped note
for tier in "${tiers[@]}"; do
	printf '%-12s %7d %7d %8d  %s\n' "$tier" "${P[$tier]}" "${F[$tier]}" "${S[$tier]}" "${NOTE[$tier]}"
	total_p=$((total_p + P[$tier])); total_f=$((total_f + F[$tier])); total_s=$((total_s + S[$tier]))
	ran=$((P[$tier] + F[$tier]))
	if [ "$ci" = 1 ] && [ "$ran" = 0 ]; then problems+=("tier $tier ran no test (CI)"); fi
	if [ "$ci" = 1 ] && [ "${S[$tier]}" != 0 ]; then problems+=("tier $tier skipped ${S[$tier]} test(s) (CI)"); fi
done
printf '%-12s %7d %7d %8d\n' total "$total_p" "$total_f" "$total_s"

for tier in "${tiers[@]}"; do
	names="$results/$tier.jsonl"
	[ "$tier" = libcni ] && names="$results/libcni"
	if [ -s "$names.failed" ]; then
		echo; echo "failed in $tier:"; sed 's/^/  /' "$names.failed"
	fi
	if [ -s "$names.skipped" ]; then
		echo; echo "skipped in $tier:"; sed 's/^/  /' "$names.skipped"
	fi
done
if [ -n "$untiered" ]; then
	echo; echo "tests in no tier (a top-level suite must start with Unit, Host, Faults, Kernel, PeerHost or PeerKernel):"
	echo "$untiered" | sed 's/^/  /'
	problems+=("$(echo "$untiered" | wc -l) test(s) belong to no tier")
fi
if [ -n "$xctests" ]; then
	echo; echo "XCTest tests found; this runner only runs Swift Testing:"
	echo "$xctests" | sed 's/^/  /'
	problems+=("XCTest tests are not run")
fi
if [ -n "$leaked" ]; then
	echo; echo "network namespaces left behind by the tiers:"
	echo "$leaked" | sed 's/^/  /'
	problems+=("$(echo "$leaked" | wc -l) network namespace(s) left behind")
fi

status=0
[ "$total_f" = 0 ] || status=1
if [ ${#problems[@]} -gt 0 ]; then
	echo
	for p in "${problems[@]}"; do echo "problem: $p"; done
	status=1
fi
echo
echo "results: $results"
closing "$total_p" "$total_f" "$total_s"
exit "$status"
