#!/bin/bash
# A real libcni client: Debian's podman (CNI backend) runs containers on a network whose conflist uses eni-multus.
#
#   bash scripts/podman-e2e.sh [--no-build] [--trace] [--keep]
#
# As root. Installs nothing: it checks for podman, crun, conmon, busybox-static, iproute2 and util-linux
# (nsenter, unshare) and names the Debian packages that are missing (exit 77, "skipped").
#
# Everything happens inside a private network namespace of its own (emt-podman-PID), entered with
# `nsenter --net=` plus a private mount namespace (`unshare --mount`) in which sysfs is remounted (so
# /sys/class/net shows that netns) with the cgroup tree carried over (podman/crun with cgroupfs need it; `ip
# netns exec` would hide it), the cgroup2 "unified" tree of a hybrid layout hidden (crun 1.8 refuses hybrid
# mode), and tmpfs over /run/netns, /var/lib/cni, /var/lib/containers and /run/crun (podman's sandbox netns
# files, libcni's result cache, the blob-info cache and crun's state stay out of the host). conmon and the
# containers run under a cgroup of this run's own (--cgroup-parent), removed on exit. The host's links,
# addresses and routes are untouched. In the netns a veth pair stands in for the ENI: `eni0` (its MAC is what
# the container must see) and its peer `eni0-peer`.
#
# podman is confined to a temporary directory: containers.conf (network_backend "cni", cni_plugin_dirs = a
# directory holding a copy of .build/debug/eni-multus named eni-multus, network_config_dir = a directory with one
# conflist, cgroup_manager "cgroupfs", runtime crun, tmp/static/volume dirs, file events log), storage.conf (vfs,
# graphroot/runroot in the temp dir) and an empty registries.conf. The image is imported with `podman import`
# from a tree of /bin/busybox (busybox-static) and its applet symlinks; nothing is pulled.
#
# Scenario:
#   1. `podman run -d … sleep`: the container sees its interface (eth0, as podman asks) with an address in
#      10.99.0.0/24 and eni0's MAC (`podman exec … ip addr`, `ip route`); eni0 is gone from the netns; the
#      plugin's store holds one reservation. `podman rm -f`: eni0 is back in the netns under its own name and
#      MAC, with no address and no alias; no reservation and no links/ record remain (cooling/ records are by
#      design); the sandbox netns is gone; libcni's cached result is gone.
#   2. `podman run … ip addr` in the foreground (the container exits; conmon's cleanup tears the network
#      down), then `podman rm`: the same checks.
# The plugin's logFile must show exactly one ADD and one DEL per container, all "ok". Containers run with
# `--ulimit nofile=4096:4096 --ulimit nproc=4096:4096` (podman's default RLIMIT_NOFILE needs CAP_SYS_RESOURCE).
#
# --no-build  use .build/debug/eni-multus as it is (default: `swift build --product eni-multus` first)
# --plugin=PATH  use this eni-multus binary (implies --no-build; scripts/test.sh passes its build's)
# --trace     put a wrapper in front of the plugin that records every invocation podman makes (CNI_COMMAND,
#             the CNI_* environment, stdin) and print them (what libcni sends; the wrapper execs our binary)
# --keep      keep the temporary directory (the netns and containers are always removed)
#
# Exit: 0 all checks passed; 1 a check failed (each failure printed as "FAIL: …"); 77 prerequisites missing.
# The last line is "podman-e2e: N checks passed, N checks failed" (or "podman-e2e: skipped: …").
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$(pwd)
# shellcheck source=scripts/lib/crun-cgroup.sh
. scripts/lib/crun-cgroup.sh

# ---------------------------------------------------------------- inner phase (in the private netns)
if [ "${1:-}" = --inner ]; then
	# shellcheck disable=SC2034
	inner=1
fi

build=1 trace=0 keep=0 plugin=""
if [ -z "${inner:-}" ]; then
	for a in "$@"; do
		case "$a" in
		--no-build) build=0 ;;
		--plugin=*) plugin=${a#--plugin=}; build=0 ;;
		--trace) trace=1 ;;
		--keep) keep=1 ;;
		-h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
		*) echo "podman-e2e: unknown argument $a" >&2; exit 2 ;;
		esac
	done
fi

pass=0 fail=0
# shellcheck disable=SC2053 # the right-hand side is the pattern
match() { [[ $1 == $2 ]]; } # string glob-pattern
ok()   { pass=$((pass + 1)); echo "ok:   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description command...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

# =============================================================================================================
# The inner phase runs under `nsenter --net=/run/netns/NS unshare --mount`: it remounts sysfs, drives podman
# and writes its counts to $E2E_TMP/inner.counts.
inner_main() {
	local tmp=$E2E_TMP ns=$E2E_NS mac=$E2E_MAC net=emt-podman
	mount --make-rprivate / || return 1
	# sysfs shows the netns of whoever mounts it: remount it here, keeping the cgroup tree underneath.
	mkdir -p "$tmp/cgroup-keep"
	mount --rbind /sys/fs/cgroup "$tmp/cgroup-keep" || return 1
	mount -t sysfs sysfs /sys || return 1
	mount --move "$tmp/cgroup-keep" /sys/fs/cgroup || return 1
	# crun 1.8 refuses a hybrid cgroup layout: hide its unified tree in this mount namespace (scripts/lib).
	hide_hybrid_cgroup || return 1
	# podman's sandbox netns files (/run/netns/netns-*) and libcni's result cache (/var/lib/cni/results) go to
	# tmpfs mounts of this mount namespace: nothing lands on the host, and what is left over is ours alone.
	mount -t tmpfs -o mode=0755 tmpfs /run/netns || return 1
	mkdir -p /var/lib/cni
	mount -t tmpfs -o mode=0755 tmpfs /var/lib/cni || return 1
	# The same for what podman and crun keep outside their configured roots: containers/image's blob-info cache
	# (/var/lib/containers/cache, written by podman import) and crun's state (/run/crun).
	mkdir -p /var/lib/containers /run/crun
	mount -t tmpfs -o mode=0700 tmpfs /var/lib/containers || return 1
	mount -t tmpfs -o mode=0700 tmpfs /run/crun || return 1
	check "sysfs remounted: /sys/class/net shows the private netns (eni0)" [ -e /sys/class/net/eni0 ]

	export CONTAINERS_CONF=$tmp/containers.conf
	export CONTAINERS_STORAGE_CONF=$tmp/storage.conf
	export CONTAINERS_REGISTRIES_CONF=$tmp/registries.conf
	export TMPDIR=$tmp/tmp
	local pm=(podman --log-level=warn)
	# Whatever happens below, no container of ours outlives this phase (they live in this mount namespace).
	trap '"${pm[@]}" rm -fa -t 0 >/dev/null 2>&1' EXIT
	trap 'exit 130' INT TERM
	# podman asks crun for RLIMIT_NOFILE 1048576 by default; without CAP_SYS_RESOURCE (as here) crun cannot
	# raise the hard limit and fails with EPERM, hence explicit ulimits. The cgroup parent keeps conmon and the
	# containers under this run's own cgroup (removed on exit) instead of a host-wide libpod_parent.
	local ul=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --cgroup-parent "$E2E_CGROUP")

	netns_files() { find /run/netns -mindepth 1 -maxdepth 1 2>/dev/null | sort; }

	echo "==> podman import (busybox-static tree)"
	if ! tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" . || ! "${pm[@]}" import --change 'CMD ["/bin/sh"]' \
		"$tmp/rootfs.tar" localhost/emt-busybox:e2e >"$tmp/import.out" 2>&1; then
		cat "$tmp/import.out"
		bad "podman import"
		return 0
	fi
	ok "podman import: localhost/emt-busybox:e2e"

	echo "==> podman network ls"
	"${pm[@]}" network ls 2>&1 | sed 's/^/    /'
	local nets
	nets=$("${pm[@]}" network inspect "$net" --format '{{.Name}} {{.Driver}}' 2>&1)
	check "podman sees network $net (driver eni-multus): $nets" [ "$nets" = "$net eni-multus" ]

	reservations() { find "$tmp/state/$net/ips" -type f 2>/dev/null | sed "s|$tmp/state/$net/ips/||" | sort; }
	attachments() { find "$tmp/state/$net/attachments" "$tmp/state/$net/links" -type f 2>/dev/null | sort; }
	cache_entries() { find /var/lib/cni/results -maxdepth 1 -name "$net-*" 2>/dev/null | sort; }

	after_removal() { # label
		local label=$1
		local l
		l=$(ip -o link show eni0 2>/dev/null)
		check "$label: eni0 is back in the netns" [ -n "$l" ]
		check "$label: eni0 keeps its MAC $mac" [ "$(cat /sys/class/net/eni0/address 2>/dev/null)" = "$mac" ]
		local a
		a=$(ip -o addr show dev eni0 2>/dev/null | grep -v ' inet6 fe80' || true)
		check "$label: eni0 has no address" [ -z "$a" ]
		check "$label: eni0 has no alias" [ -z "$(cat /sys/class/net/eni0/ifalias 2>/dev/null)" ]
		check "$label: no other link appeared in the netns" \
			[ "$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')" = "eni0 eni0-peer lo " ]
		local r
		r=$(reservations)
		check "$label: no reservation in the store (ips/: ${r:-none})" [ -z "$r" ]
		local at
		at=$(attachments)
		check "$label: no attachment or links/ record (${at:-none})" [ -z "$at" ]
		local nsf
		nsf=$(netns_files)
		check "$label: no sandbox netns left in /run/netns (${nsf:-none})" [ -z "$nsf" ]
		local c
		c=$(cache_entries)
		check "$label: no libcni cached result for $net (${c:-none})" [ -z "$c" ]
		local cool
		cool=$(find "$tmp/state/$net/cooling" -type f 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
		echo "    cooling/ (by design): ${cool:-none}"
	}

	in_container() { # label output
		local label=$1 out=$2
		echo "$out" | sed 's/^/    | /'
		local eth
		eth=$(echo "$out" | grep -E '^[0-9]+: eth0[:@]' || true)
		check "$label: the container has eth0" [ -n "$eth" ]
		check "$label: eth0 carries eni0's MAC $mac" \
			grep -q "link/ether $mac " <<<"$(echo "$out" | sed -n '/^[0-9]*: eth0[:@]/,/^[0-9]*: /p')"
		local addr
		addr=$(echo "$out" | sed -n '/^[0-9]*: eth0[:@]/,/^[0-9]*: [^e]/p' | awk '$1 == "inet" {print $2}' | head -1)
		check "$label: eth0 has an address in 10.99.0.0/24 ($addr)" match "$addr" '10.99.0.*/24'
		check "$label: eth0 is UP" grep -qE '^[0-9]+: eth0[:@].*[<,]UP[,>]' <<<"$out"
		container_addr=${addr%/*}
	}

	in_container_routes() { # label `ip route` output
		echo "$2" | sed 's/^/    | /'
		check "$1: route to 10.99.0.0/24 on eth0 in the container" grep -qE '^10\.99\.0\.0/24 dev eth0' <<<"$2"
	}

	remove_container() { # label podman-rm-arguments…
		local label=$1 out rc
		shift
		out=$("${pm[@]}" rm "$@" 2>&1)
		rc=$?
		check "$label: podman rm $* (status $rc)" [ "$rc" = 0 ]
		[ "$rc" = 0 ] || echo "$out" | sed 's/^/    /'
		after_removal "$label"
	}

	# ---- 1: detached container, podman exec, podman rm -f
	echo
	echo "==> 1: podman run -d --network $net … sleep; podman exec ip addr / ip route; podman rm -f"
	local out rc
	out=$("${pm[@]}" run -d --name emt-c1 --network "$net" "${ul[@]}" localhost/emt-busybox:e2e \
		/bin/sleep 600 2>&1)
	rc=$?
	check "1: podman run -d (status $rc)" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || echo "$out" | sed 's/^/    /'
	if [ "$rc" = 0 ]; then
		out=$("${pm[@]}" exec emt-c1 /bin/ip addr 2>&1)
		in_container 1 "$out"
		local c1addr=$container_addr
		in_container_routes 1 "$("${pm[@]}" exec emt-c1 /bin/ip route 2>&1)"
		check "1: eni0 left the netns while the container runs" [ -z "$(ip -o link show eni0 2>/dev/null)" ]
		check "1: the store holds the container's reservation ($(reservations | tr '\n' ' '))" \
			[ "$(reservations)" = "$c1addr" ]
		local sandbox
		sandbox=$("${pm[@]}" inspect emt-c1 --format '{{.NetworkSettings.SandboxKey}}' 2>&1)
		check "1: the sandbox netns exists while the container runs ($sandbox)" match "$sandbox" '/run/netns/?*'
		check "1: libcni cached the ADD result ($(cache_entries | sed 's|.*/||'))" [ -n "$(cache_entries)" ]
		local ins
		ins=$("${pm[@]}" inspect emt-c1 --format "{{(index .NetworkSettings.Networks \"$net\").IPAddress}} {{(index .NetworkSettings.Networks \"$net\").MacAddress}}" 2>&1)
		check "1: podman inspect reports the plugin's result ($ins)" [ "$ins" = "$c1addr $mac" ]
	fi
	remove_container 1 -f -t 0 emt-c1

	# ---- 2: foreground container that exits; conmon's cleanup tears the network down; podman rm
	echo
	echo "==> 2: podman run --network $net … ip addr (foreground), then podman rm"
	out=$("${pm[@]}" run --name emt-c2 --network "$net" "${ul[@]}" localhost/emt-busybox:e2e \
		/bin/sh -c 'ip addr; echo ---; ip route' 2>&1)
	rc=$?
	check "2: podman run (status $rc)" [ "$rc" = 0 ]
	in_container 2 "$(echo "$out" | sed '/^---$/,$d')"
	in_container_routes 2 "$(echo "$out" | sed '1,/^---$/d')"
	remove_container 2 emt-c2

	# ---- the plugin's own log: one ADD and one DEL per container, all ok
	echo
	echo "==> plugin log ($tmp/plugin.log)"
	if [ -s "$tmp/plugin.log" ]; then
		sed 's/^/    /' "$tmp/plugin.log"
	fi
	local adds dels errs
	adds=$(grep -c '"verb":"ADD"' "$tmp/plugin.log" 2>/dev/null)
	dels=$(grep -c '"verb":"DEL"' "$tmp/plugin.log" 2>/dev/null)
	errs=$(grep -c '"level":"error"' "$tmp/plugin.log" 2>/dev/null)
	echo "    ADD lines: ${adds:-0}, DEL lines: ${dels:-0}, error lines: ${errs:-0}"
	check "plugin log: one ADD per container (${adds:-0})" [ "${adds:-0}" = 2 ]
	check "plugin log: one DEL per container (${dels:-0})" [ "${dels:-0}" = 2 ]
	all_ok() { [ "${errs:-0}" = 0 ] && [ -s "$tmp/plugin.log" ] && ! grep -qv '"outcome":"ok"' "$tmp/plugin.log"; }
	check "plugin log: every line says outcome ok, none is an error" all_ok
	return 0
}

if [ -n "${inner:-}" ]; then
	inner_main || bad "setting up the private mount namespace (status $?)"
	echo "$pass $fail" >"$E2E_TMP/inner.counts"
	exit 0
fi

# =============================================================================================================
# Outer phase: prerequisites, build, fixtures, cleanup.
# Not "N passed, N failed": that form is scripts/test.sh's closing line, read by CI.
summary() { echo "podman-e2e: $pass checks passed, $fail checks failed"; }
skip() { echo "podman-e2e: skipped: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, podman rootful)"

missing=()
need() { # command package
	local p
	p=$(command -v "$1" 2>/dev/null) && [ -x "$p" ] || missing+=("$2 (for $1)")
}
need podman podman
need crun crun
need conmon conmon
need ip iproute2
need nsenter util-linux
need unshare util-linux
need tar tar
if [ ! -x /bin/busybox ] || ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
	missing+=("busybox-static (a static /bin/busybox for the image)")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "podman-e2e: missing (apt-get install -y --no-install-recommends <package>):"
	printf '  %s\n' "${missing[@]}"
	skip "missing ${#missing[@]} prerequisite(s): ${missing[*]}"
fi
echo "==> $(podman --version), $(crun --version | head -1), conmon $(conmon --version 2>/dev/null | head -1 | awk '{print $3}')"

bin_plugin=${plugin:-$root/.build/debug/eni-multus}
if [ "$build" = 1 ]; then
	echo "==> swift build --product eni-multus"
	swift build --product eni-multus || { bad "swift build"; summary; exit 1; }
	bin_plugin="$(swift build --show-bin-path)/eni-multus"
fi
[ -x "$bin_plugin" ] || { bad "no plugin binary at $bin_plugin (run swift build)"; summary; exit 1; }

tmp=$(mktemp -d /tmp/emt-podman.XXXXXX)
chmod 0711 "$tmp"
ns="emt-podman-$$"
# A cgroup of our own for conmon and the containers, under the one this script runs in (cgroup v1: the memory
# controller's path, which is where a supervisor's accounting usually lives; v2: the unified path).
cgroup=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
[ -n "$cgroup" ] || cgroup=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
cgroup="${cgroup%/}/emt-podman-$$"
start=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# The inner phase removes its containers itself (they live in its mount namespace). Should it have been
	# killed first: the conmon processes of our containers (their command line names $tmp), and the container
	# each one supervises, are ended here.
	local pid ours=()
	tree() { local c; echo "$1"; for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done; }
	for pid in $(pgrep -x conmon 2>/dev/null); do
		grep -qs -- "$tmp/" "/proc/$pid/cmdline" && mapfile -t -O "${#ours[@]}" ours < <(tree "$pid")
	done
	if [ ${#ours[@]} -gt 0 ]; then
		echo "podman-e2e: ending what our containers left running: ${ours[*]}"
		kill -9 "${ours[@]}" 2>/dev/null
		for _ in $(seq 50); do kill -0 "${ours[@]}" 2>/dev/null || break; sleep 0.1; done
	fi
	ip netns del "$ns" 2>/dev/null || true
	# Our cgroups (the containers' and conmon's), deepest first; a cgroup still holding a process stays.
	find /sys/fs/cgroup -depth -type d \( -path "*$cgroup" -o -path "*$cgroup/*" \) -exec rmdir {} \; 2>/dev/null
	if [ "$keep" = 1 ]; then
		echo "podman-e2e: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the plugin directory: a copy of our binary, named as the conflist's type
mkdir -p "$tmp/cni-bin" "$tmp/cni-conf" "$tmp/state" "$tmp/graph" "$tmp/run" "$tmp/tmp" "$tmp/libpod-tmp" \
	"$tmp/volumes" "$tmp/rootfs"
if [ "$trace" = 1 ]; then
	cp "$bin_plugin" "$tmp/eni-multus.real"
	mkdir -p "$tmp/trace"
	cat >"$tmp/cni-bin/eni-multus" <<EOF
#!/bin/bash
# Records what libcni sends, then runs the real plugin with the same environment and stdin.
n=\$(date +%s%N)-\$\$
in=\$(cat)
{ env | grep -E '^CNI_' | sort; echo "stdin: \$in"; } >"$tmp/trace/\$n.\${CNI_COMMAND:-none}"
printf '%s' "\$in" | "$tmp/eni-multus.real"
rc=\$?
echo "exit: \$rc" >>"$tmp/trace/\$n.\${CNI_COMMAND:-none}"
exit \$rc
EOF
	chmod 0755 "$tmp/cni-bin/eni-multus"
else
	cp "$bin_plugin" "$tmp/cni-bin/eni-multus"
fi

# ---- podman's configuration, confined to $tmp
cat >"$tmp/containers.conf" <<EOF
[containers]
netns = "private"
log_driver = "k8s-file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$tmp/cni-bin", "/usr/lib/cni"]
network_config_dir = "$tmp/cni-conf"
default_network = "emt-podman"

[engine]
cgroup_manager = "cgroupfs"
runtime = "crun"
events_logger = "file"
events_logfile_path = "$tmp/events.log"
tmp_dir = "$tmp/libpod-tmp"
static_dir = "$tmp/graph/libpod"
volume_path = "$tmp/volumes"
no_pivot_root = false
EOF
cat >"$tmp/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$tmp/graph"
runroot = "$tmp/run"
EOF
: >"$tmp/registries.conf"
cat >"$tmp/cni-conf/emt-podman.conflist" <<EOF
{
    "cniVersion": "1.0.0",
    "name": "emt-podman",
    "plugins": [
        {
            "type": "eni-multus",
            "link": "host-device",
            "device": "eni0",
            "logFile": "$tmp/plugin.log",
            "ipam": {
                "type": "eni-multus",
                "subnet": "10.99.0.0/24",
                "dataDir": "$tmp/state"
            }
        }
    ]
}
EOF

# ---- the image tree: busybox-static and its applets
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/etc" \
	"$tmp/rootfs/tmp" "$tmp/rootfs/run"
cp /bin/busybox "$tmp/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$tmp/rootfs/bin/$a"
done
echo "root:x:0:0:root:/:/bin/sh" >"$tmp/rootfs/etc/passwd"
echo "root:x:0:" >"$tmp/rootfs/etc/group"

# ---- the private netns and the ENI stand-in
echo "==> netns $ns: veth eni0 / eni0-peer (the ENI stand-in)"
if ! ip netns add "$ns" || ! ip -n "$ns" link set lo up \
	|| ! ip -n "$ns" link add eni0 type veth peer name eni0-peer \
	|| ! ip -n "$ns" link set eni0 up || ! ip -n "$ns" link set eni0-peer up; then
	bad "creating netns $ns and the veth pair"
	summary
	exit 1
fi
mac=$(ip -n "$ns" -o link show eni0 | sed -n 's/.*link\/ether \([0-9a-f:]*\) .*/\1/p')
echo "    eni0 MAC $mac"

# ---- the inner phase
E2E_TMP=$tmp E2E_NS=$ns E2E_MAC=$mac E2E_CGROUP=$cgroup \
	nsenter --net="/run/netns/$ns" unshare --mount --propagation private -- bash "$0" --inner
irc=$?
if [ -s "$tmp/inner.counts" ]; then
	read -r ipass ifail <"$tmp/inner.counts"
	pass=$((pass + ipass)) fail=$((fail + ifail))
else
	bad "inner phase ended without counts (status $irc)"
fi

if [ "$trace" = 1 ]; then
	echo
	echo "==> what podman sent (in order)"
	for f in $(ls "$tmp/trace" | sort -t- -k1,1n); do
		echo "--- ${f##*.}"
		sed 's/^/    /' "$tmp/trace/$f"
	done
	echo "    verbs: $(ls "$tmp/trace" | sort -t- -k1,1n | sed 's/.*\.//' | tr '\n' ' ')"
fi

# ---- report (the EXIT trap then removes the netns, our cgroups and $tmp)
[ "$pass" -gt 0 ] || bad "no check ran"
echo
echo "==> $(( $(date +%s) - start ))s"
summary
[ "$fail" = 0 ]
