#!/bin/bash
# The benchmark of eni-multus against Debian's reference CNI plugins (containernetworking-plugins),
# side by side in the same run, alternating. One command, as root, from a clean clone:
#
#     bash bench/run.sh            # about 8 minutes on the 2-core dev machine, build included
#
# Prints a table (median, min, max, ratio ours/reference, targets) and writes bench/out/results.json.
# Knobs (environment): BENCH_N (cycles for rows 1/2, default 200), BENCH_N_SCALE (row 3, default 40),
# BENCH_N_VERSION (row 4, default 300), BENCH_N_EC2 (row 5, cycles per mode after 2 warm-up cycles, default 16; 0 skips the row),
# BENCH_SKIP_BUILD=1 (reuse bench/out/bin/eni-multus),
# BENCH_LINK=release (default: scripts/build-release.sh, the shipped build: one static executable, libmnl.a from
# Debian's libmnl-dev via scripts/libmnl-static.sh), dynamic (build-release.sh's BUILD_LINK=dynamic, the previous
# shipped build: Swift runtime and libstdc++ static; glibc, libgcc_s and libmnl shared) or static-stdlib
# (--static-swift-stdlib alone), BENCH_SWIFT_FLAGS (overrides static-stdlib's swift build flags entirely).
# Needs what .ci/run installs (libmnl-dev user-mode-linux kmod iproute2 containernetworking-plugins jq gcc g++
# curl, moto[server] for row 5).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/out"
bin="$out/bin"
ref=/usr/lib/cni
N=${BENCH_N:-200}
NS=${BENCH_N_SCALE:-40}
NV=${BENCH_N_VERSION:-300}
NE=${BENCH_N_EC2:-16}
LINK=${BENCH_LINK:-release}
# The release settings (bench/README.md "Release settings"): -O (the release default; -Osize measured no faster),
# stripped.
case "$LINK" in
release) SWIFT_FLAGS="-Xswiftc -static-executable, libmnl.a (scripts/build-release.sh)"; scratch=.build-bench-release ;;
dynamic) SWIFT_FLAGS="--static-swift-stdlib, libstdc++.a (scripts/build-release.sh BUILD_LINK=dynamic)"; scratch=.build-bench-dynamic ;;
static-stdlib) SWIFT_FLAGS=${BENCH_SWIFT_FLAGS:---static-swift-stdlib}; scratch=.build-bench ;;
*) echo "bench/run.sh: BENCH_LINK is release, dynamic or static-stdlib" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------------------------------
# Part run inside user-mode Linux: rows 1 (ipvlan) and 6 (floor), in ONE boot and one driver loop.
if [ "${1:-}" = "--inside-uml" ]; then
	res=$2
	node=bn-node pa=bn-ours pb=bn-ref pf=bn-floor
	for n in $node $pa $pb $pf; do ip netns add $n; done
	ip -n $node link add eni0 type veth peer name eni0peer
	ip -n $node link set eni0 up; ip -n $node link set eni0peer up
	d=/var/lib/cni/bench   # tmpfs inside UML (the host's / is hostfs: keep the stores off it)
	mkdir -p $d
	cat >$d/ours.json <<EOF
{"cniVersion":"1.0.0","name":"bench-ipvlan","type":"eni-multus","master":"eni0","mode":"l2","ipam":{"type":"eni-multus","dataDir":"$d/ours","subnet":"10.1.0.0/16","cooldownSeconds":0,"routes":[{"dst":"10.0.8.0/21"}]}}
EOF
	cat >$d/ref.json <<EOF
{"cniVersion":"1.0.0","name":"bench-ipvlan-ref","type":"ipvlan","master":"eni0","mode":"l2","ipam":{"type":"host-local","dataDir":"$d/hl","subnet":"10.2.0.0/16","routes":[{"dst":"10.0.8.0/21"}]}}
EOF
	echo '{}' >$d/floor.json
	ip netns exec $node "$bin/driver" cycle ipvlan "$N" 20 \
		ours "$bin/eni-multus" $d/ours.json CNI_NETNS=/run/netns/$pa CNI_IFNAME=net1 CNI_PATH=$ref \
		-- reference "$ref/ipvlan" $d/ref.json CNI_NETNS=/run/netns/$pb CNI_IFNAME=net1 CNI_PATH=$ref \
		-- floor "$bin/floor" $d/floor.json CNI_NETNS=/run/netns/$pf CNI_IFNAME=net1 FLOOR_MASTER=eni0 \
		FLOOR_ADDR=10.3.0.5/16 FLOOR_DST=10.0.8.0/21 FLOOR_GW=10.3.0.1 >"$res"
	echo "uml: $(uname -r), $(nproc) CPU" >&2
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (it creates network namespaces)" >&2; exit 1; }
for t in jq gcc ip "$ref/ipvlan" "$ref/host-local" "$ref/host-device"; do
	command -v "$t" >/dev/null || { echo "bench/run.sh: missing $t (bash scripts/setup.sh all installs it)" >&2; exit 1; }
done
export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
mkdir -p "$bin"
rm -f "$out"/row*.json "$out/results.json"
t_start=$(date +%s)
# The machine is shared with other builders: the load is part of the result (see RESULTS.md).
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
note() { echo "==> $(date +%T) $*" >&2; }

# ---------------------------------------------------------------------------------------------------------------
# Build: our release binary (separate scratch path, so a debug/test .build is untouched), stripped; the driver
# (static, so its own exec and RSS are minimal) and the floor program.
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ] || [ ! -x "$bin/eni-multus" ]; then
	if [ "$LINK" != static-stdlib ]; then
		b=static; [ "$LINK" = dynamic ] && b=dynamic
		note "building eni-multus: BUILD_LINK=$b bash scripts/build-release.sh --scratch-path $scratch"
		BUILD_LINK=$b bash "$root/scripts/build-release.sh" --scratch-path $scratch >"$out/build.log" 2>&1 ||
			{ cat "$out/build.log" >&2; echo "bench/run.sh: build failed" >&2; exit 1; }
	else
		note "building eni-multus: swift build -c release --product eni-multus --scratch-path $scratch $SWIFT_FLAGS"
		# shellcheck disable=SC2086
		swift build -c release --product eni-multus --scratch-path $scratch $SWIFT_FLAGS >"$out/build.log" 2>&1 ||
			{ cat "$out/build.log" >&2; echo "bench/run.sh: build failed" >&2; exit 1; }
	fi
	tail -2 "$out/build.log" | head -1 >&2
	# The node agent, through which the plugin reaches EC2 (row 5).
	swift build -c release --product eni-multus-node --scratch-path $scratch >>"$out/build.log" 2>&1 ||
		{ cat "$out/build.log" >&2; echo "bench/run.sh: build of eni-multus-node failed" >&2; exit 1; }
	cp $scratch/release/eni-multus-node "$bin/eni-multus-node"
	cp $scratch/release/eni-multus "$bin/eni-multus.unstripped"
	cp $scratch/release/eni-multus "$bin/eni-multus"
	strip "$bin/eni-multus"
fi
gcc -O2 -static -Wall -o "$bin/driver" "$here/driver.c"
# The floor is as lean as C gets: static, with the same libmnl.a as ours (no ld.so, no shared object to map).
mnl=$(bash "$root/scripts/libmnl-static.sh" "$root/$scratch/libmnl-static" | tail -1)
gcc -O2 -static -Wall -o "$bin/floor" "$here/floor.c" -L"$mnl" -lmnl
strip "$bin/driver" "$bin/floor"

# ---------------------------------------------------------------------------------------------------------------
# Row 4: start-up. VERSION exec time (alternating), peak RSS (VmHWM at the exit stop, under ptrace), sizes.
note "row 4: VERSION start-up and peak RSS"
echo '{"cniVersion":"1.0.0"}' >"$out/version.json"
sides=(ours "$bin/eni-multus" "$out/version.json" -- ipvlan "$ref/ipvlan" "$out/version.json"
	-- host-local "$ref/host-local" "$out/version.json" -- host-device "$ref/host-device" "$out/version.json")
"$bin/driver" version version "$NV" 20 "${sides[@]}" >"$out/row4-version.json"
# Peak RSS is mostly file-backed text, and how much of a binary one fault maps depends on the page-cache folios
# that hold it (this kernel's ext4 uses large folios, sized by how the file was written or read ahead): drop the
# compared binaries from the page cache (dd iflag=nocache count=0 = POSIX_FADV_DONTNEED on each file, nothing
# else), so that each is read back by its own exec faults, the same way for all.
for p in "$bin/eni-multus" "$ref/ipvlan" "$ref/host-local" "$ref/host-device"; do
	dd if="$p" iflag=nocache count=0 status=none
done
"$bin/driver" rss rss 21 "${sides[@]}" >"$out/row4-rss.json"
{
	for p in "$bin/eni-multus" "$ref/ipvlan" "$ref/host-local" "$ref/host-device"; do
		s=$p
		if ! file -b "$p" 2>/dev/null | grep -q ', stripped' && [ "$p" != "$bin/eni-multus" ]; then
			s=$(mktemp); cp "$p" "$s"; strip "$s"
		fi
		printf '{"binary":"%s","bytes":%d}\n' "$(basename "$p")" "$(stat -c %s "$s")"
	done
} >"$out/row4-size.json"

# ---------------------------------------------------------------------------------------------------------------
# Rows 2 and 3 on the host kernel: host-device with veth "ENI" stand-ins in a private node netns.
hostns=bh-node
cleanup() {
	if [ -n "${emu_pid:-}" ]; then kill "$emu_pid" 2>/dev/null || true; fi
	if [ -n "${agent_pid:-}" ]; then kill "$agent_pid" 2>/dev/null || true; fi
	for n in $hostns bh-pa bh-pb bh-pc bh-pf; do ip netns del $n 2>/dev/null || true; done
	rm -rf "${work:-/nonexistent}"
}
trap cleanup EXIT
cleanup
work=$(mktemp -d /tmp/emt-bench.XXXXXX)
ip netns add $hostns; ip netns add bh-pa; ip netns add bh-pb; ip netns add bh-pf
# eni0 ours, eni1 the reference's, enif the floor's (row 5 adds eni2-eni4 for its ENIs).
ip -n $hostns link add enif type veth peer name enifpeer
ip -n $hostns link set enif up; ip -n $hostns link set enifpeer up
for e in 0 1; do
	ip -n $hostns link add eni$e type veth peer name eni${e}peer
	ip -n $hostns link set eni$e up; ip -n $hostns link set eni${e}peer up
done
# A default route in the node netns, as on a node (the plugins look for the primary interface).
ip -n $hostns link add prim0 type veth peer name prim0peer
ip -n $hostns addr add 192.168.254.2/24 dev prim0; ip -n $hostns link set prim0 up; ip -n $hostns link set prim0peer up
ip -n $hostns route add default via 192.168.254.1

# Ours with cooldownSeconds 0, as host-local (no cooldown): with the default 30 s, 300 fast cycles would exhaust the
# /24 of row 2 (every released address cools for 30 s); the cooldown costs one more small file per DEL.
hdconf() { # hdconf OURS|REF NAME DEVICE SUBNET DATADIR
	if [ "$1" = ours ]; then
		printf '{"cniVersion":"1.0.0","name":"%s","type":"eni-multus","link":"host-device","device":"%s","ipam":{"type":"eni-multus","dataDir":"%s","subnet":"%s","cooldownSeconds":0,"routes":[{"dst":"10.0.8.0/21"}]}}\n' "$2" "$3" "$5" "$4"
	else
		printf '{"cniVersion":"1.0.0","name":"%s","type":"host-device","device":"%s","ipam":{"type":"host-local","dataDir":"%s","subnet":"%s","routes":[{"dst":"10.0.8.0/21"}]}}\n' "$2" "$3" "$5" "$4"
	fi
}

note "row 2: host-device ADD+DEL, $N cycles"
hdconf ours hd-ours eni0 10.4.0.0/24 "$work/r2-ours" >"$work/r2-ours.json"
hdconf ref hd-ref eni1 10.5.0.0/24 "$work/r2-hl" >"$work/r2-ref.json"
echo '{}' >"$work/r2-floor.json"  # the floor (bench/floor.c, FLOOR_KIND=host-device) reads no config
ip netns exec $hostns "$bin/driver" cycle host-device "$N" 20 \
	ours "$bin/eni-multus" "$work/r2-ours.json" CNI_NETNS=/run/netns/bh-pa CNI_IFNAME=net1 CNI_PATH=$ref \
	-- reference "$ref/host-device" "$work/r2-ref.json" CNI_NETNS=/run/netns/bh-pb CNI_IFNAME=net1 CNI_PATH=$ref \
	-- floor "$bin/floor" "$work/r2-floor.json" CNI_NETNS=/run/netns/bh-pf CNI_IFNAME=net1 FLOOR_KIND=host-device \
	FLOOR_DEVICE=enif FLOOR_ADDR=10.6.0.2/24 FLOOR_DST=10.0.8.0/21 FLOOR_GW=10.6.0.1 \
	>"$out/row2.json"

# Row 3: IPAM at scale. K live allocations in a /16 (10.20.0.0/16: the first K assignable addresses from .0.2,
# the round-robin cursor on the last), written directly in each plugin's on-disk format (10,000 real ADDs through
# host-local would take O(K^2) file reads, minutes); a real ADD then checks the format and that the next address
# handed out is the one after the K-th.
ipat() { # ipat I -> the I-th address (0-based) from 10.20.0.2
	local v=$(($1 + 2)); echo "10.20.$((v >> 8)).$((v & 255))"
}
prefill() { # prefill K OURSDIR HLDIR NET-OURS NET-HL
	local k=$1 od=$2/$4 hd=$3/$5 i ip cid
	mkdir -p "$od/attachments" "$od/ips" "$hd"
	chmod 700 "$2" "$od" "$od/attachments" "$od/ips"
	for ((i = 0; i < k; i++)); do
		ip=$(ipat $i) cid=prefill-$i
		printf 'eni-multus-ipam 1\ncontainer=%s\nifname=net1\nip=%s\n' $cid "$ip" >"$od/attachments/$cid:net1"
		printf '%s\nnet1\n' $cid >"$od/ips/$ip"
		printf '%s\r\nnet1' $cid >"$hd/$ip"
	done
	if [ "$k" -gt 0 ]; then
		ip=$(ipat $((k - 1)))
		printf '%s' "$ip" >"$od/last_reserved_ip.0"; printf '%s' "$ip" >"$hd/last_reserved_ip.0"
	fi
}
check_store() { # check_store K NAME BINARY CONF NETNS OURS|REF STOREDIR: one real ADD+DEL, format + next address
	local k=$1 name=$2 b=$3 conf=$4 netns=$5 kind=$6 sd=$7 got want f
	want=$(ipat "$k")
	got=$(ip netns exec $hostns env CNI_COMMAND=ADD CNI_CONTAINERID=probe CNI_NETNS=/run/netns/$netns CNI_IFNAME=net1 \
		CNI_PATH=$ref "$b" <"$conf" | jq -r '.ips[0].address')
	[ "$got" = "$want/16" ] || { echo "bench: $name at K=$k handed out $got, expected $want/16" >&2; exit 1; }
	if [ "$kind" = ours ]; then f=$(cat "$sd/ips/$want"; echo x); [ "$f" = $'probe\nnet1\nx' ]
	else f=$(cat "$sd/$want"; echo x); [ "$f" = $'probe\r\nnet1x' ]; fi || {
		echo "bench: $name's store format differs from the synthesized one" >&2; exit 1; }
	ip netns exec $hostns env CNI_COMMAND=DEL CNI_CONTAINERID=probe CNI_NETNS=/run/netns/$netns CNI_IFNAME=net1 \
		CNI_PATH=$ref "$b" <"$conf" >/dev/null
}
for k in 0 1000 10000; do
	note "row 3: IPAM at scale, K=$k live allocations, $NS cycles"
	w=$work/r3-$k; mkdir -p "$w"
	hdconf ours scale-ours eni0 10.20.0.0/16 "$w/ours" >"$w/ours.json"
	hdconf ref scale-ref eni1 10.20.0.0/16 "$w/hl" >"$w/ref.json"
	# IPAM alone, exec'd as a main plugin execs its IPAM (libcni delegation: the main plugin's network config, its
	# "type" another plugin's, on stdin): host-local, and eni-multus in its IPAM role (ipam.type = eni-multus).
	ipamconf() { # ipamconf TYPE NAME DATADIR [EXTRA-IPAM-MEMBERS]
		printf '{"cniVersion":"1.0.0","name":"%s","type":"host-device","device":"eni1","ipam":{"type":"%s","subnet":"10.20.0.0/16","dataDir":"%s"%s,"routes":[{"dst":"10.0.8.0/21"}]}}\n' "$2" "$1" "$3" "${4:-}"
	}
	ipamconf host-local scale-hl "$w/hl-alone" >"$w/hl-ipam.json"
	ipamconf eni-multus scale-ipam "$w/ours-ipam" ',"cooldownSeconds":0' >"$w/ours-ipam.json"
	prefill "$k" "$w/ours" "$w/hl" scale-ours scale-ref
	prefill "$k" "$w/ours-ipam" "$w/hl-alone" scale-ipam scale-hl
	check_store "$k" ours "$bin/eni-multus" "$w/ours.json" bh-pa ours "$w/ours/scale-ours"
	check_store "$k" host-device+host-local "$ref/host-device" "$w/ref.json" bh-pb ref "$w/hl/scale-ref"
	check_store "$k" host-local "$ref/host-local" "$w/hl-ipam.json" bh-pb ref "$w/hl-alone/scale-hl"
	check_store "$k" "ours (IPAM role)" "$bin/eni-multus" "$w/ours-ipam.json" bh-pb ours "$w/ours-ipam/scale-ipam"
	ip netns exec $hostns "$bin/driver" cycle "ipam-$k" "$NS" 10 \
		ours "$bin/eni-multus" "$w/ours.json" CNI_NETNS=/run/netns/bh-pa CNI_IFNAME=net1 CNI_PATH=$ref \
		-- reference "$ref/host-device" "$w/ref.json" CNI_NETNS=/run/netns/bh-pb CNI_IFNAME=net1 CNI_PATH=$ref \
		-- host-local "$ref/host-local" "$w/hl-ipam.json" CNI_NETNS=/run/netns/bh-pb CNI_IFNAME=net1 CNI_PATH=$ref \
		-- ours-ipam "$bin/eni-multus" "$w/ours-ipam.json" CNI_NETNS=/run/netns/bh-pb CNI_IFNAME=net1 CNI_PATH=$ref \
		>"$out/row3-$k.json"
	rm -rf "$w"
done

# ---------------------------------------------------------------------------------------------------------------
# Row 5: EC2 registration against the emulator (Tests/Emulators/ec2env.py: moto + IMDSv2 + the counting proxy),
# started inside the node netns so that its 127.0.0.1 is the plugin's (and nothing listens anywhere else). Veths
# carrying the moto ENIs' MACs stand in for the ENIs; host-device moves one into bh-pc and back. After
# every exec the driver's hook reads the proxy's call counters (GET /_emulator/counts) and the IMDS request
# counters, so every EC2 call is attributed to one ADD or one DEL.
if [ "$NE" -gt 0 ]; then
	note "row 5: EC2 registration (per-IP, ec2, ec2 with a warm pool, prefix) through the node agent against the emulator, $NE cycles each"
	r5=$work/r5
	mkdir -p "$r5"
	ip -n $hostns link set lo up
	ip netns exec $hostns python3 "$root/Tests/Emulators/ec2env.py" --no-stdin-watch --ready-file "$r5/ready" \
		</dev/null >/dev/null 2>"$r5/ec2env.log" &
	emu_pid=$!
	for _ in $(seq 1 300); do
		[ -s "$r5/ready" ] && break
		kill -0 "$emu_pid" 2>/dev/null || break
		sleep 0.2
	done
	[ -s "$r5/ready" ] || { cat "$r5/ec2env.log" >&2; echo "bench: the EC2 emulator did not start" >&2; exit 1; }
	control=$(jq -r .control "$r5/ready")
	ec2url=$(jq -r .ec2 "$r5/ready")
	imdsurl=$(jq -r .imds "$r5/ready")
	ctl() { # ctl METHOD PATH [JSON]
		ip netns exec $hostns curl -sS --fail --noproxy '*' -X "$1" -H 'Content-Type: application/json' \
			${3:+--data "$3"} "$control$2"
	}
	# One node (m5.4xlarge: 8 ENIs, 30 IPv4 addresses each) with one no_manage-tagged ENI per mode in the multus
	# subnet (devices 1-4; ec2 mode keeps released addresses through the 30 s cooldown, which would eat the prefix
	# mode's slots on a shared ENI), with fixed primaries, so neither the ranges below nor the addresses EC2 picks
	# meet a primary. A veth per ENI carries its MAC (eni2 ... eni5).
	ctl POST /_emulator/scenario '{"instances":[{"name":"node1","type":"m5.4xlarge","enis":[
		{"name":"perip","deviceIndex":1,"privateIp":"10.0.100.5","tags":{"node.k8s.amazonaws.com/no_manage":"true"}},
		{"name":"ec2","deviceIndex":2,"privateIp":"10.0.100.6","tags":{"node.k8s.amazonaws.com/no_manage":"true"}},
		{"name":"prefix","deviceIndex":3,"privateIp":"10.0.100.7","tags":{"node.k8s.amazonaws.com/no_manage":"true"}},
		{"name":"ec2warm","deviceIndex":4,"privateIp":"10.0.100.8","tags":{"node.k8s.amazonaws.com/no_manage":"true"}}]}]}' \
		>"$r5/scenario.json"
	sub=$(jq -r '.subnets["multus-us-east-1a"].cidr' "$r5/scenario.json")
	base=${sub%.0/24}
	i=2
	for m in perip ec2 prefix ec2warm; do
		ip -n $hostns link add eni$i type veth peer name eni${i}peer
		ip -n $hostns link set eni$i address "$(jq -r ".enis.$m.mac" "$r5/scenario.json")"
		ip -n $hostns link set eni$i up
		ip -n $hostns link set eni${i}peer up
		i=$((i + 1))
	done
	ip netns add bh-pc
	# The emulator's own latency (Python; it dominates the absolute times): IMDS GETs timed by curl, EC2 calls
	# (DescribeNetworkInterfaces through the proxy) by boto3; before the counters are reset.
	ip netns exec $hostns "$here/emulator-latency.sh" "$imdsurl" "$ec2url" "$(jq -r .enis.perip.id "$r5/scenario.json")" \
		"$(jq -r .enis.perip.mac "$r5/scenario.json")" >"$out/row5-latency.json"
	printf '%s\n' \
		'c=$(curl -sS --fail --noproxy "*" "$EMU_CONTROL/_emulator/counts") || exit 1' \
		'i=$(curl -sS --fail --noproxy "*" "$EMU_CONTROL/_emulator/imds") || exit 1' \
		'jq -cn --argjson c "$c" --argjson i "$i" --arg v "$DRIVER_VERB" --arg n "$DRIVER_ITER" \' \
		'  '"'"'{verb: $v, iter: ($n | tonumber), ec2: $c, imds: ([$i[] | (.counts // {}) | to_entries[] | .value] | add // 0)}'"'"' \' \
		'  >>"$EMU_CALLS"' >"$r5/hook.sh"
	e5conf() { # e5conf MODE IPAM-MEMBERS: the mode's network on the mode's ENI, default cooldown (30 s)
		printf '{"cniVersion":"1.0.0","name":"ec2-%s","type":"eni-multus","link":"host-device","eni":{"id":"%s"},"ec2TimeoutSeconds":20,"ipam":{"type":"eni-multus","dataDir":"%s",%s}}\n' \
			"$1" "$(jq -r ".enis.$1.id" "$r5/scenario.json")" "$r5/data-$1" "$2"
	}
	e5conf perip '"ranges":[[{"subnet":"'"$sub"'","rangeStart":"'"$base"'.200","rangeEnd":"'"$base"'.250"}]]' >"$r5/perip.json"
	e5conf ec2 '"mode":"ec2"' >"$r5/ec2.json"
	e5conf prefix '"mode":"prefix"' >"$r5/prefix.json"
	# ec2 with a warm pool (no cooldown: each DEL gives the pool back its address): the steady-state ADD takes an
	# address already assigned and confirmed, and asks EC2 nothing.
	e5conf ec2warm '"mode":"ec2","warmAddresses":4,"cooldownSeconds":0' >"$r5/ec2warm.json"
	# The node agent holds the AWS session; the plugin gets only its socket (as on a node).
	ip netns exec $hostns env AWS_ENDPOINT_URL_EC2="$ec2url" AWS_EC2_METADATA_SERVICE_ENDPOINT="$imdsurl" AWS_REGION=us-east-1 \
		AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing NO_PROXY=127.0.0.1,localhost \
		"$bin/eni-multus-node" agent --socket "$r5/agent.sock" --data-dir "$r5/agent" --reconcile-interval 0 \
		</dev/null >/dev/null 2>"$r5/agent.log" &
	agent_pid=$!
	for _ in $(seq 1 100); do [ -S "$r5/agent.sock" ] && break; sleep 0.1; done
	[ -S "$r5/agent.sock" ] || { cat "$r5/agent.log" >&2; echo "bench: the node agent did not start" >&2; exit 1; }
	awsenv=(ENI_MULTUS_AGENT_SOCKET="$r5/agent.sock")
	for m in perip ec2 prefix ec2warm; do
		ctl POST /_emulator/counts/reset >/dev/null
		: >"$r5/calls-$m.jsonl"
		EMU_CONTROL=$control EMU_CALLS=$r5/calls-$m.jsonl DRIVER_AFTER_EXEC="sh $r5/hook.sh" \
			ip netns exec $hostns "$bin/driver" cycle "ec2-$m" "$NE" 2 \
			ours "$bin/eni-multus" "$r5/$m.json" CNI_NETNS=/run/netns/bh-pc CNI_IFNAME=net1 CNI_PATH=$ref "${awsenv[@]}" \
			>"$out/row5-$m.json"
		# Per exec: the calls it made (the counters' difference from the previous record).
		jq -s -c --arg row "ec2-$m" -f "$here/calls.jq" "$r5/calls-$m.jsonl" >>"$out/row5-$m.json"
	done
	kill "$agent_pid" "$emu_pid" 2>/dev/null || true
	wait "$agent_pid" "$emu_pid" 2>/dev/null || true
	emu_pid= agent_pid=
fi

# ---------------------------------------------------------------------------------------------------------------
# Rows 1 and 6 inside UML (the host kernel has no ipvlan), in one boot.
note "rows 1 and 6: ipvlan ADD+DEL and the libmnl floor inside user-mode Linux, $N cycles"
"$root/scripts/uml/run.sh" -e BENCH_N="$N" -- bash "$here/run.sh" --inside-uml "$out/row1.json"

# ---------------------------------------------------------------------------------------------------------------
# The table and the JSON.
t_end=$(date +%s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
jq -s --arg cpu "$cpu" --arg cores "$(nproc)" --arg kernel "$(uname -r)" --arg date "$(date -u +%FT%TZ)" \
	--arg load_before "$load_before" --arg load_after "$load_after" \
	--arg flags "--product eni-multus $SWIFT_FLAGS" --arg link "$LINK" --arg swift "$(swift --version 2>&1 | head -1)" --argjson secs $((t_end - t_start)) \
	--arg ref "$(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null || echo unknown)" '
	def side($row; $s): map(select(.row == $row and .side == $s))[0];
	{machine: {cpu: $cpu, cores: ($cores|tonumber), kernel: $kernel, date: $date, swift: $swift,
	           reference_plugins: ("containernetworking-plugins " + $ref), build: ("swift build -c release " + $flags + " + strip"), link: $link,
	           seconds: $secs, load_before: $load_before, load_after: $load_after},
	 runs: map(select(.row != null)),
	 sizes: map(select(.binary != null))}' \
	"$out"/row*.json >"$out/results.json"
bash "$here/table.sh" "$out/results.json"
echo "JSON: $out/results.json  (total $((t_end - t_start)) s)"
