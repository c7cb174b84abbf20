#!/bin/bash
# The power-cut campaign: ADD/DEL/GC storms of the plugin's IPAM role inside user-mode Linux,
# with the state directory on ext4 on a UML block device, and the power cut at random instants.
#
#   ENI_MULTUS_POWERCUT_RUNS=N bash scripts/powercut.sh [--plugin BIN] [--node BIN] [--runs N] [--seed S]
#                                                      [--modes "ranges ranges+eni ec2 ec2+warm prefix"]
#                                                      [--workers W] [--keep]
#
#   --plugin, --node  the release binaries to test (ENI_MULTUS_POWERCUT_PLUGIN / _NODE); built when not given, as
#                     for the image (scripts/build-image.sh --artefacts: build-release.sh's plugin and the node
#                     binary, both stripped)
#   --runs N          power cuts in all (ENI_MULTUS_POWERCUT_RUNS, default 8), round-robin over the modes
#   --seed S          seed of the cut instants and of the storms' choices (default: from the clock; printed)
#   --keep            keep the work dir (images, journals, agent logs, guest output) under /var/tmp
#   --mount-options O extra ext4 mount options (ENI_MULTUS_POWERCUT_MOUNT_OPTIONS; default none: what nodes have).
#                     "sync" is the campaign's control run: every write reaches the device before it returns, so
#                     a cut loses nothing and the campaign must find no violation whatever the plugin does
#
# Needs root, user-mode-linux, e2fsprogs, iproute2, python3 with moto (scripts/setup.sh test), a C compiler (the
# UML xstate shim, scripts/uml/README.md).  Prints per-violation details, then one summary line; exits 1 when
# any violation was found (or a mode did not reach its final drain check), 2 on a usage or set-up error.
#
# One cut: boot UML (scripts/uml/guest-init.sh as init, the host's / over hostfs) with the mode's ext4 image as
# ubdb and eth0 on a tap; the guest (scripts/powercut/guest.py) runs fsck.ext4 -p, mounts the image at the
# plugin's dataDir (default options: data=ordered, commit=5), starts the node agent (data dir on that ext4),
# recovers from the previous cut (DEL of stale attachments, GC with the runtime's valid list, the agent's
# reconcile past its grace), checks the invariants, then starts the storm (W workers doing ADD/DEL/GC with fresh
# container ids, every verb's start and outcome appended to a journal on the host).  0.3-5 s into the storm the
# host SIGKILLs the whole UML process group: nothing is synced, and what the guest's page cache held and ext4 had
# not committed (commit=5, so most of the storm) is lost, as on a node that loses power.  The journal survives:
# it is written through hostfs, whose writes reach the host file before write() returns.  Each mode keeps its
# image and journal across its cuts (state accumulates); after the last cut each mode boots once more for
# recovery, checks and the drain check (DEL everything, GC with an empty list, reconcile: EC2 holds nothing of
# ours but the warm pool, the store no address).  Invariants and their classes (guest.py's docstring):
#   lost       a valid attachment (ADD succeeded, no DEL started) without its record, failing CHECK, or whose
#              address EC2 no longer shows on the ENI
#   duplicate  an address recorded for two attachments, or handed to two attachments at once (journal)
#   leak       EC2 holding an address or prefix on the ENI that no record owns, after GC and the reconcile past
#              its grace; a record of a non-valid attachment after GC; anything left after the drain
#   blocking   ADD, DEL, GC (or the reconcile) failing after recovery: a record that breaks a verb
#
# Network: everything lives in one network namespace created for the campaign (emt-pc-PID, deleted at the end)
# with no route anywhere: the EC2 emulator (Tests/Emulators/ec2env.py, on that namespace's own 127.0.0.1), the tap
# UML's eth0 is plugged into (10.254.254.1/30 on the host side, 10.254.254.2 in the guest) and a relay
# (scripts/powercut/relay.py) listening only on 10.254.254.1 and forwarding each port to the emulator's loopback
# port.  The guest's agent is pointed at 10.254.254.1:PORT; nothing can reach a real network address.  The
# emulator (the EC2 side, outside the node) survives every cut.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"

plugin="${ENI_MULTUS_POWERCUT_PLUGIN:-}" node="${ENI_MULTUS_POWERCUT_NODE:-}"
runs="${ENI_MULTUS_POWERCUT_RUNS:-8}" seed="${ENI_MULTUS_POWERCUT_SEED:-}"
modes="ranges ranges+eni ec2 ec2+warm prefix" workers=4 keep=0
mount_options="${ENI_MULTUS_POWERCUT_MOUNT_OPTIONS:-}"
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--plugin) plugin=${2:?}; shift 2 ;;
	--node) node=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--modes) modes=${2:?}; shift 2 ;;
	--workers) workers=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	--mount-options) mount_options=${2:?}; shift 2 ;;
	-h|--help) usage ;;
	*) echo "powercut.sh: unknown option $1" >&2; usage ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "powercut.sh: must run as root" >&2; exit 2; }
for c in linux.uml mkfs.ext4 ip python3 setsid; do
	command -v "$c" >/dev/null || { echo "powercut.sh: $c not found" >&2; exit 2; }
done
[[ "$runs" =~ ^[0-9]+$ ]] || { echo "powercut.sh: runs must be a number" >&2; exit 2; }
[ -n "$seed" ] || seed=$(( $(date +%s) % 100000 ))
read -r -a mode_list <<<"$modes"
for m in "${mode_list[@]}"; do
	case "$m" in ranges|ranges+eni|ec2|ec2+warm|prefix) ;; *) echo "powercut.sh: unknown mode $m" >&2; exit 2 ;; esac
done
RANDOM=$seed
python=$(python3 -c 'import sys; print(sys.executable)')

work=$(mktemp -d /var/tmp/emt-pc.XXXXXXXX)
ns="emt-pc-$$" tap="emtpc$$"
tap=${tap:0:15}
uml_pgid="" emu_pid="" relay_pid=""
cleanup() {
	local rc=$?
	if [ -n "$uml_pgid" ]; then kill -KILL -- "-$uml_pgid" 2>/dev/null || true; wait "$uml_pgid" 2>/dev/null || true; fi
	if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
	if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
	ip netns del "$ns" 2>/dev/null || true
	if [ "$keep" = 1 ]; then echo "powercut.sh: kept $work" >&2; else rm -rf -- "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the binaries: what ships ---
if [ -z "$plugin" ] || [ -z "$node" ]; then
	echo "==> building the release binaries (scripts/build-image.sh --artefacts)" >&2
	bash scripts/build-image.sh --artefacts "$work/artefacts" >&2
	[ -n "$plugin" ] || plugin=$work/artefacts/opt/eni-multus/bin/eni-multus
	[ -n "$node" ] || node=$work/artefacts/usr/local/bin/eni-multus-node
fi
plugin=$(realpath "$plugin") node=$(realpath "$node")
[ -x "$plugin" ] && [ -x "$node" ] || { echo "powercut.sh: $plugin or $node is not executable" >&2; exit 2; }
case "$work" in /tmp/*) echo "powercut.sh: the work dir must not be under /tmp" >&2; exit 2 ;; esac

# --- the sealed namespace: emulator, relay, tap ---
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev "$tap" mode tap
ip -n "$ns" addr add 10.254.254.1/30 dev "$tap"
ip -n "$ns" link set "$tap" up
ip netns exec "$ns" "$python" Tests/Emulators/ec2env.py --no-stdin-watch --ready-file "$work/ready.json" \
	</dev/null >/dev/null 2>"$work/ec2env.log" &
emu_pid=$!
for _ in $(seq 1 600); do [ -s "$work/ready.json" ] && break; kill -0 "$emu_pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "powercut.sh: the EC2 emulator did not start:" >&2; tail -20 "$work/ec2env.log" >&2; exit 2; }
ports=$(ip netns exec "$ns" "$python" scripts/powercut/host.py scenario "$work/ready.json" "$work/endpoints.json")
# shellcheck disable=SC2086
ip netns exec "$ns" "$python" scripts/powercut/relay.py 10.254.254.1 $ports >"$work/relay.out" 2>&1 &
relay_pid=$!
for _ in $(seq 1 100); do grep -q ready "$work/relay.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/relay.out" || { echo "powercut.sh: the relay did not start:" >&2; cat "$work/relay.out" >&2; exit 2; }

# --- the UML xstate shim (scripts/uml/README.md) ---
cc=""
for c in "${CC:-}" cc gcc clang /opt/swift/usr/bin/clang; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
[ -n "$cc" ] || { echo "powercut.sh: no C compiler for the xstate shim" >&2; exit 2; }
"$cc" -O2 -shared -fPIC -o "$work/xstate-shim.so" scripts/uml/xstate-shim.c -ldl

# --- one ext4 image per mode, kept across the mode's cuts ---
for m in "${mode_list[@]}"; do
	d="$work/${m/+/_}"
	mkdir -p "$d"
	truncate -s 256M "$d/state.img"
	mkfs.ext4 -q -F "$d/state.img"
done
: >"$work/results.jsonl"

echo "==> power-cut campaign: $runs cuts over ${mode_list[*]}, seed $seed, $workers workers, plugin $plugin, node $node${mount_options:+, mount -o $mount_options}"
started=$(date +%s)
failures=0

# cycle MODE CUT FINAL: boot, let the guest recover and check; unless FINAL, cut the power 0.3-5 s into its storm.
cycle() {
	local m=$1 cut=$2 final=$3 d="$work/${1/+/_}" uw delay t0 status=""
	uw=$(mktemp -d "$work/uml.XXXXXX")
	rm -f "$d/storm"
	{
		printf 'export PATH=%q\n' "$(dirname "$python"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		echo 'export LANG=C.UTF-8'
	} >"$uw/env.sh"
	{
		echo 'ip addr add 10.254.254.2/30 dev eth0 && ip link set eth0 up || exit 125'
		printf 'exec %q %q --mode %q --cut %d --dir %q --results %q --plugin %q --node %q --endpoints %q --workers %d --seed %d%s\n' \
			"$python" "$root/scripts/powercut/guest.py" "$m" "$cut" "$d" "$work/results.jsonl" "$plugin" "$node" "$work/endpoints.json" \
			"$workers" "$seed" "$([ "$final" = 1 ] && echo ' --final')$([ -n "$mount_options" ] && printf ' --mount-options %q' "$mount_options")"
	} >"$uw/cmd.sh"
	: >"$uw/stdout"; : >"$uw/stderr"
	t0=$(date +%s.%N)
	setsid ip netns exec "$ns" env LD_PRELOAD="$work/xstate-shim.so" TMPDIR=/dev/shm \
		linux.uml mem=768M root=/dev/root rootfstype=hostfs rootflags=/ rw quiet \
		init="$root/scripts/uml/guest-init.sh" con=null con0=fd:0,fd:1 \
		EMT_UML_WORK="$uw" EMT_UML_PRIVATE_TMP=0 ubdb="$d/state.img" "eth0=tuntap,$tap,02:00:00:00:00:01" \
		</dev/null >"$uw/console.log" 2>&1 &
	uml_pgid=$!
	local deadline=$(( $(date +%s) + 600 ))
	while :; do
		if [ "$final" = 0 ] && [ -f "$d/storm" ]; then
			# 0.3-5 s, in ms
			delay=$(( 300 + (RANDOM * 32768 + RANDOM) % 4701 ))
			sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
			kill -KILL -- "-$uml_pgid" 2>/dev/null || true
			wait "$uml_pgid" 2>/dev/null || true
			uml_pgid=""
			printf '{"kind":"cut","mode":"%s","cut":%d,"delay_ms":%d}\n' "$m" "$cut" "$delay" >>"$work/results.jsonl"
			status=cut
			# The journal must hold this storm's first verbs (written through hostfs before the cut): if not, what
			# the guest wrote to the host did not survive and the runtime's view is wrong.
			if ! grep -qE "^\\{\"cut\": $cut, .*\"ph\": \"storm\"" "$d/journal.jsonl" 2>/dev/null; then
				status="cut, but the journal holds no verb of its storm"
			fi
			break
		fi
		if [ -f "$uw/status" ]; then status=$(cat "$uw/status"); break; fi
		if ! kill -0 "$uml_pgid" 2>/dev/null; then status=died; break; fi
		if [ "$(date +%s)" -gt "$deadline" ]; then status=timeout; break; fi
		sleep 0.05
	done
	if [ -n "$uml_pgid" ]; then
		# The guest finished (final cycle) and powers off; make sure.
		for _ in $(seq 1 100); do kill -0 "$uml_pgid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$uml_pgid" 2>/dev/null || true
		wait "$uml_pgid" 2>/dev/null || true
		uml_pgid=""
	fi
	{ echo "---- $m cut $cut (final=$final): $status"; cat "$uw/stdout" "$uw/stderr"; } >>"$d/guest.log"
	local secs
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$status" = cut ]; then
		echo "  $m cut $cut: power cut ${delay} ms into the storm ($secs s)"
	elif [ "$status" = 0 ] && [ "$final" = 1 ]; then
		echo "  $m final recovery and drain ($secs s)"
	else
		echo "  $m cut $cut: did not run as planned (status: $status, $secs s):" >&2
		tail -n 30 "$uw/stdout" "$uw/stderr" >&2
		if [ "$status" = died ] || [ "$status" = timeout ]; then tail -n 30 "$uw/console.log" >&2; fi
		failures=$((failures + 1))
	fi
	grep -h VIOLATION "$uw/stdout" | head -5 | sed 's/^/    /' || true
	rm -rf -- "$uw"
}

declare -A cuts=()
for m in "${mode_list[@]}"; do cuts[$m]=0; done
for ((i = 0; i < runs; i++)); do
	m=${mode_list[i % ${#mode_list[@]}]}
	cuts[$m]=$(( ${cuts[$m]} + 1 ))
	cycle "$m" "${cuts[$m]}" 0
done
for m in "${mode_list[@]}"; do
	cycle "$m" $(( ${cuts[$m]} + 1 )) 1
done

elapsed=$(( $(date +%s) - started ))
echo "==> $elapsed s"
rc=0
python3 scripts/powercut/host.py summary "$work/results.jsonl" "${mode_list[@]}" || rc=1
[ "$failures" = 0 ] || { echo "powercut.sh: $failures cycles did not run as planned" >&2; rc=1; }
exit $rc
