#!/bin/bash
# Run one command as root inside a user-mode Linux (UML) kernel.
#
#   scripts/uml/run.sh [options] -- CMD [ARGS...]
#
# Options:
#   --nic TAP         give the UML kernel a real NIC: eth0 inside, backed by a
#                     tap device TAP in a private host netns created for this
#                     run (and deleted afterwards).  Nothing is routed to it.
#   --mac MAC         MAC of that eth0 (default 02:00:00:00:00:01)
#   --mem SIZE        UML memory (default 512M; ENI_MULTUS_UML_MEM)
#   --timeout SECS    kill the UML kernel after SECS (default 900;
#                     ENI_MULTUS_UML_TIMEOUT); the exit status is then 124
#   --private-tmp     tmpfs on /tmp inside UML (default: the host's /tmp is
#                     shared, so files written there are visible outside and
#                     a cwd under /tmp works)
#   -e NAME[=VALUE]   pass one more environment variable (repeatable)
#   --verbose         always print the UML console (kernel log) to stderr
#
# Inside UML: Debian's UML kernel (6.1) with the host's / as its root over
# hostfs (read-write: writes to host paths are real), proc/sys/devtmpfs,
# /dev/shm, /dev/pts, tmpfs on /run and /var/lib/cni, modules ipv6 ipvlan
# veth dummy macvlan bridge vrf tun loaded, lo up.  CMD runs as root in the
# same cwd with only these variables: PATH HOME CI USER LOGNAME LANG LC_ALL
# TERM TZ TMPDIR, every ENI_MULTUS_* and SWIFT_* variable, and those given
# with -e.  ENI_MULTUS_IN_UML=1 is set.
#
# CMD's stdout and stderr stream to this script's stdout and stderr (through
# files in a host work dir, so output arrives in chunks); CMD's exit status
# becomes this script's.  Status 125 means the UML kernel died before CMD
# finished (the console log is then printed); 124 means timeout.
#
# Needs: root, user-mode-linux, kmod, iproute2, a C compiler (cc, gcc, or
# Swift's clang) for the xstate shim (see xstate-shim.c: without it Debian's
# UML 6.1 panics at once on hosts with AMX).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nic="" mac="02:00:00:00:00:01"
mem="${ENI_MULTUS_UML_MEM:-512M}"
tmo="${ENI_MULTUS_UML_TIMEOUT:-900}"
private_tmp=0 verbose="${ENI_MULTUS_UML_VERBOSE:-0}"
extra_env=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--nic) nic="${2:?--nic needs a tap name}"; shift 2 ;;
	--mac) mac="${2:?}"; shift 2 ;;
	--mem) mem="${2:?}"; shift 2 ;;
	--timeout) tmo="${2:?}"; shift 2 ;;
	--private-tmp) private_tmp=1; shift ;;
	--verbose) verbose=1; shift ;;
	-e) extra_env+=("${2:?}"); shift 2 ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
done
[ $# -gt 0 ] || usage
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 2; }
uml=$(command -v linux.uml || true)
[ -n "$uml" ] || { echo "run.sh: linux.uml not found (apt-get install user-mode-linux)" >&2; exit 2; }
if [ -n "$nic" ] && [ ${#nic} -gt 15 ]; then
	echo "run.sh: tap name '$nic' longer than 15 characters" >&2; exit 2
fi

if [ "$private_tmp" = 1 ]; then
	case "$PWD/" in /tmp/*)
		echo "run.sh: --private-tmp hides the current directory $PWD inside UML" >&2; exit 2 ;;
	esac
fi

# The work dir must stay visible inside UML even with --private-tmp: keep it
# out of /tmp.
work=$(mktemp -d /var/tmp/emt-uml.XXXXXXXX)
netns=""
uml_pid="" tail_pids=()

cleanup() {
	local rc=$?
	if [ -n "$uml_pid" ] && kill -0 "$uml_pid" 2>/dev/null; then
		# timeout(1) made itself leader of a process group holding UML
		# and its helpers: stop the group, politely first.
		kill -TERM -- "-$uml_pid" 2>/dev/null || kill -TERM "$uml_pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$uml_pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL -- "-$uml_pid" 2>/dev/null || true
	fi
	for p in "${tail_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$netns" ]; then ip netns del "$netns" 2>/dev/null || true; fi
	rm -rf -- "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the xstate shim (compiled per run: ~0.2 s) ---
cc=""
for c in "${CC:-}" cc gcc clang /opt/swift/usr/bin/clang; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
[ -n "$cc" ] || { echo "run.sh: no C compiler for the xstate shim" >&2; exit 2; }
"$cc" -O2 -shared -fPIC -o "$work/xstate-shim.so" "$here/xstate-shim.c" -ldl

# --- environment and command for the guest ---
{
	for v in PATH HOME CI USER LOGNAME LANG LC_ALL TERM TZ TMPDIR; do
		if [ -n "${!v+x}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
	done
	while IFS= read -r v; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done < <(compgen -e | grep -E '^(ENI_MULTUS_|SWIFT_)' || true)
	for kv in "${extra_env[@]}"; do
		case "$kv" in
		*=*) printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" ;;
		*) if [ -n "${!kv+x}" ]; then printf 'export %s=%q\n' "$kv" "${!kv}"; fi ;;
		esac
	done
	echo 'export ENI_MULTUS_IN_UML=1'
} >"$work/env.sh"
{
	printf 'cd -- %q || exit 125\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$work/cmd.sh"
: >"$work/stdout"
: >"$work/stderr"

# --- boot ---
args=(mem="$mem" root=/dev/root rootfstype=hostfs rootflags=/ rw quiet
	init="$here/guest-init.sh" con=null con0=fd:0,fd:1
	EMT_UML_WORK="$work" EMT_UML_PRIVATE_TMP="$private_tmp")
prefix=()
if [ -n "$nic" ]; then
	netns="emt-uml-$$-$RANDOM"
	ip netns add "$netns"
	ip -n "$netns" tuntap add dev "$nic" mode tap
	ip -n "$netns" link set "$nic" up
	args+=("eth0=tuntap,$nic,$mac")
	prefix=(ip netns exec "$netns")
fi

start=$(date +%s.%N)
# timeout(1) puts itself and UML (which forks helper processes) in a new
# process group and signals the whole group on expiry.
"${prefix[@]}" env LD_PRELOAD="$work/xstate-shim.so" TMPDIR=/dev/shm \
	timeout -k 10 "$tmo" "$uml" "${args[@]}" \
	</dev/null >"$work/console.log" 2>&1 &
uml_pid=$!

tail -n +1 -F -s 0.2 --pid="$uml_pid" "$work/stdout" 2>/dev/null &
tail_pids+=($!)
tail -n +1 -F -s 0.2 --pid="$uml_pid" "$work/stderr" >&2 2>/dev/null &
tail_pids+=($!)

uml_rc=0
wait "$uml_pid" || uml_rc=$?
uml_pid=""
for p in "${tail_pids[@]}"; do wait "$p" 2>/dev/null || true; done
tail_pids=()
end=$(date +%s.%N)

if [ -f "$work/status" ]; then
	rc=$(cat "$work/status")
	[ "$verbose" = 1 ] && cat "$work/console.log" >&2
else
	if [ "$uml_rc" = 124 ] || [ "$uml_rc" = 137 ]; then
		echo "run.sh: timed out after ${tmo}s" >&2
		rc=124
	else
		echo "run.sh: the UML kernel stopped (status $uml_rc) before the command finished" >&2
		rc=125
	fi
	echo "----- UML console -----" >&2
	tail -n 60 "$work/console.log" >&2
	echo "-----------------------" >&2
fi
if [ "$verbose" = 1 ]; then
	awk -v a="$start" -v b="$end" -v rc="$rc" 'BEGIN { printf "run.sh: UML ran %.1fs, status %s\n", b - a, rc }' >&2
fi
exit "$rc"
