#!/bin/bash
# Fleet simulation: N simulated nodes, each with its own node agent, churning pods
# concurrently against ONE EC2 emulator that throttles like AWS (token buckets per action shared by the whole
# account: Assign/Unassign 100 tokens refilled at 5/s; DescribeNetworkInterfaces 100 @ 20/s filtered, 50 @ 10/s
# not). One command, as root:
#
#     bash bench/fleet.sh          # about 6 minutes on the 2-core dev machine, the release build included
#
# For each throttling scale (FLEET_THROTTLE_SCALES, default "1 0.1": AWS's buckets as they are, then at a tenth of
# their size and refill, i.e. the share of the account a 10x larger fleet would leave these nodes) and each IPAM
# mode (per-IP `ranges` + `eni`, `ec2`, `prefix`) it builds a fresh world in the emulator (N instances, each with
# its own IMDS server and one multus ENI tagged no_manage in its own /24 subnet), starts every node's own
# `eni-multus-node agent` (in the root netns, where the emulator listens; a socket and a data directory per node),
# then runs K pods per node, each repeating ADD then DEL for FLEET_SECONDS, all nodes at once. Every node also has
# a network namespace holding a veth that carries its ENI's MAC, where its plugin execs run. Prints one table (per
# run: ADDs, DELs, failures by CNI code, EC2 mutating calls and per ADD, throttled calls, ADD/DEL latency p50/p99)
# and what the numbers imply for 1,000 nodes; writes bench/out/fleet.json and bench/out/fleet.md (the table and
# the paragraphs, for RESULTS.md); the agents' logs go to bench/out/fleet-logs/.
#
# What is exec'd: eni-multus in its IPAM role ("type": "ipvlan" with "ipam": {"type": "eni-multus", ...} and an
# `eni` block), exactly as a main plugin execs its IPAM: the address work and the EC2 registration through the
# agent, no link. A link cannot carry several pods per ENI on this host: its kernel has no ipvlan, and host-device
# moves the one ENI into one pod. So the figures are the IPAM + EC2 half of an ADD/DEL.
#
# Knobs (environment): FLEET_NODES (8; at most 100), FLEET_PODS (pods per node, 4), FLEET_SECONDS (churn per run,
# 30), FLEET_MODES ("ranges ec2 prefix"), FLEET_THROTTLE_SCALES ("1 0.1"; 1 = AWS's bucket sizes and refill rates,
# 0.1 = a tenth of both), FLEET_EC2_RATE / FLEET_EC2_BURST (the agents' own pacing, default theirs: 5/s, 20),
# FLEET_RECONCILE (the agents' --reconcile-interval, default 60 as shipped), FLEET_SKIP_BUILD=1 (reuse
# bench/out/fleet-bin), FLEET_MAX_CYCLES (per pod, 0 = until FLEET_SECONDS).
# Needs: gcc, jq, curl, iproute2, util-linux (unshare, nsenter, setpriv), python3 with moto[server] (bash
# scripts/setup.sh all installs them).
#
# No named netns is created: each node's netns is anonymous, held by a `sleep` in it (so `ip netns list`, which
# scripts/test.sh checks for leaks, never shows it) and gone, with its veth pair, when that process ends; every helper
# process (emulator, agents, netns holders) is killed on exit, and dies with this script (PR_SET_PDEATHSIG, the
# emulator's parent watch) even when it is killed with SIGKILL. Files live in /tmp/emtfleet.XXXXXX.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/out"
bin="$out/fleet-bin"
NODES=${FLEET_NODES:-8}
PODS=${FLEET_PODS:-4}
SECONDS_PER_MODE=${FLEET_SECONDS:-30}
MODES=${FLEET_MODES:-ranges ec2 prefix}
SCALES=${FLEET_THROTTLE_SCALES:-1 0.1}
RECONCILE=${FLEET_RECONCILE:-60}
scratch=.build-fleet

die() { echo "bench/fleet.sh: $*" >&2; exit 1; }
note() { echo "==> $(date +%T) $*" >&2; }
[ "$(id -u)" = 0 ] || die "run as root (it creates network namespaces)"
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 100 ] || die "FLEET_NODES must be 1..100"
[[ "$PODS" =~ ^[0-9]+$ ]] && [ "$PODS" -ge 1 ] || die "FLEET_PODS must be >= 1"
for m in $MODES; do case $m in ranges|ec2|prefix) ;; *) die "FLEET_MODES: unknown mode $m (ranges, ec2, prefix)" ;; esac; done
for s in $SCALES; do [[ "$s" =~ ^[0-9]*\.?[0-9]+$ ]] && awk "BEGIN{exit !($s > 0)}" || die "FLEET_THROTTLE_SCALES: $s is not a number > 0"; done
first_scale=${SCALES%% *}
for t in gcc jq ip unshare nsenter setpriv python3 strip curl; do command -v $t >/dev/null || die "missing $t (bash scripts/setup.sh all installs it)"; done
python3 -c 'import moto' 2>/dev/null || die "python3 has no moto (pip install 'moto[server]'; scripts/setup.sh does it)"
export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
t_start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# A run killed with SIGKILL leaves only its directory (its processes die with it): remove those of dead runs.
for old in /tmp/emtfleet.*; do
	[ -f "$old/pid" ] && ! kill -0 "$(cat "$old/pid")" 2>/dev/null && rm -rf "$old"
done
tmp=$(mktemp -d /tmp/emtfleet.XXXXXX)
echo $$ >"$tmp/pid"
emu_pid="" driver_pid="" agent_pids=() holder_pids=()
stop_agents() {
	local p
	for p in "${agent_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	agent_pids=()
}
cleanup() {
	local rc=$?
	set +e
	[ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null && wait "$driver_pid" 2>/dev/null
	stop_agents
	local p
	for p in "${holder_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
	for p in "${holder_pids[@]}" $emu_pid; do wait "$p" 2>/dev/null; done
	if [ $rc != 0 ] && [ -d "$tmp" ]; then
		mkdir -p "$out/fleet-failed"
		cp -r "$tmp"/. "$out/fleet-failed/" 2>/dev/null
		echo "bench/fleet.sh: failed (exit $rc); logs kept in $out/fleet-failed" >&2
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------- build
mkdir -p "$out" "$bin"
if [ "${FLEET_SKIP_BUILD:-0}" != 1 ] || [ ! -x "$bin/eni-multus" ] || [ ! -x "$bin/eni-multus-node" ]; then
	note "building eni-multus: bash scripts/build-release.sh --scratch-path $scratch"
	p=$(bash scripts/build-release.sh --scratch-path $scratch 2>"$tmp/build.log" | tail -1) ||
		{ cat "$tmp/build.log" >&2; die "plugin build failed"; }
	# The node binary with the same flags (and scratch path), so the shared modules are built once.
	note "building eni-multus-node: swift build -c release --product eni-multus-node (same flags)"
	swift build -c release --product eni-multus-node --scratch-path $scratch --static-swift-stdlib \
		--disable-local-rpath -Xswiftc -L"$(cd $scratch/static-libstdcxx && pwd)" >>"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log" >&2; die "eni-multus-node build failed"; }
	cp "$p" "$bin/eni-multus"; strip "$bin/eni-multus"
	cp "$scratch/release/eni-multus-node" "$bin/eni-multus-node"; strip "$bin/eni-multus-node"
fi
gcc -O2 -Wall -pthread -o "$bin/fleet-driver" "$here/fleet-driver.c" || die "fleet-driver.c does not compile"
t_built=$(date +%s)

# ---------------------------------------------------------------------------------------------------- emulator
note "starting the EC2 emulator (throttling on)"
python3 "$root/Tests/Emulators/ec2env.py" --no-stdin-watch --throttle "$first_scale" --ready-file "$tmp/emu.json" \
	</dev/null >"$tmp/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 300); do [ -s "$tmp/emu.json" ] && break; kill -0 $emu_pid 2>/dev/null || break; sleep 0.1; done
[ -s "$tmp/emu.json" ] || { tail -20 "$tmp/emu.log" >&2; die "the emulator did not start"; }
control=$(jq -r .control "$tmp/emu.json")
ec2url=$(jq -r .ec2 "$tmp/emu.json")
ctl() { # ctl METHOD PATH [JSON]
	local a=(-sS --fail-with-body -X "$1" "$control$2")
	[ $# -gt 2 ] && a+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${a[@]}"
}

# The world: node k has instance node<k> in nodes-<k> (10.0.<k>.0/24) and ENI multus<k> (device 1, tagged
# no_manage) in multus-<k> (10.0.<100+k>.0/24), AZs cycling a..f; instance k is served by IMDS server k.
scenario=$(python3 - "$NODES" <<'EOF'
import json, sys
n = int(sys.argv[1])
azs = ["us-east-1" + c for c in "abcdef"]
print(json.dumps({
    "azs": azs[:max(1, min(n, 6))],
    "subnets": [s for k in range(n) for s in (
        {"name": f"nodes-{k}", "cidr": f"10.0.{k}.0/24", "az": azs[k % 6]},
        {"name": f"multus-{k}", "cidr": f"10.0.{100 + k}.0/24", "az": azs[k % 6]})],
    "instances": [{"name": f"node{k}", "subnet": f"nodes-{k}", "enis": [
        {"name": f"multus{k}", "deviceIndex": 1, "subnet": f"multus-{k}", "privateIp": f"10.0.{100 + k}.10",
         "tags": {"node.k8s.amazonaws.com/no_manage": "true"}}]} for k in range(n)],
}))
EOF
)

# ---------------------------------------------------------------------------------------------------- nodes
# A node: an anonymous netns held by a sleep that dies with this script; in it a veth pair, one end carrying the
# ENI's MAC. The MACs come from the scenario, which is rebuilt (same seed: same MACs) for every mode.
note "building the world: $NODES instances"
world=$(ctl POST /_emulator/scenario "$scenario")
for ((k = 0; k < NODES; k++)); do
	setpriv --pdeathsig KILL unshare --net sleep 1000000 &
	holder_pids+=($!)
done
for ((k = 0; k < NODES; k++)); do
	h=${holder_pids[$k]}
	for _ in $(seq 50); do [ "$(readlink /proc/$h/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
	mac=$(jq -r ".enis.multus$k.mac" <<<"$world")
	nsenter --net=/proc/$h/ns/net ip link add emtfleet-eni address "$mac" type veth peer name emtfleet-enp
	nsenter --net=/proc/$h/ns/net ip link set emtfleet-eni up
	nsenter --net=/proc/$h/ns/net ip link set emtfleet-enp up
done

start_agents() { # start_agents MODE_DIR WORLD
	local d=$1 w=$2 k imds
	for ((k = 0; k < NODES; k++)); do
		imds=$(jq -r ".instances.node$k.imds" <<<"$w")
		mkdir -p "$d/n$k/data"
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NO_PROXY=127.0.0.1,localhost \
			AWS_ENDPOINT_URL_EC2="$ec2url" AWS_EC2_METADATA_SERVICE_ENDPOINT="$imds" AWS_REGION=us-east-1 \
			AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
			setpriv --pdeathsig TERM "$bin/eni-multus-node" agent --socket "$d/n$k/agent.sock" --data-dir "$d/n$k/data" \
			--reconcile-interval "$RECONCILE" ${FLEET_EC2_RATE:+--ec2-rate $FLEET_EC2_RATE} \
			${FLEET_EC2_BURST:+--ec2-burst $FLEET_EC2_BURST} </dev/null >"$d/n$k/agent.log" 2>&1 &
		agent_pids+=($!)
	done
	for ((k = 0; k < NODES; k++)); do
		for _ in $(seq 100); do [ -S "$d/n$k/agent.sock" ] && break; sleep 0.05; done
		[ -S "$d/n$k/agent.sock" ] || { cat "$d/n$k/agent.log" >&2; die "agent of node $k did not start"; }
	done
}

conf() { # conf MODE K DATADIR WORLD: the network as a main plugin hands it to its IPAM
	local mode=$1 k=$2 data=$3 w=$4 subnet ipam
	subnet=$(jq -r ".subnets[\"multus-$k\"].id" <<<"$w")
	case $mode in
	ranges) ipam="{\"type\":\"eni-multus\",\"dataDir\":\"$data\",\"ranges\":[[{\"subnet\":\"10.0.$((100 + k)).0/24\",\"rangeStart\":\"10.0.$((100 + k)).16\",\"rangeEnd\":\"10.0.$((100 + k)).250\"}]]}" ;;
	ec2) ipam="{\"type\":\"eni-multus\",\"mode\":\"ec2\",\"dataDir\":\"$data\"}" ;;
	prefix) ipam="{\"type\":\"eni-multus\",\"mode\":\"prefix\",\"dataDir\":\"$data\"}" ;;
	esac
	echo "{\"cniVersion\":\"1.0.0\",\"name\":\"fleet-$mode\",\"type\":\"ipvlan\",\"master\":\"emtfleet-eni\",\"eni\":{\"subnetId\":\"$subnet\"},\"ipam\":$ipam}"
}

# ---------------------------------------------------------------------------------------------------- churn
rm -rf "$out"/fleet-*.jsonl "$out"/fleet-*.state.json "$out/fleet.json" "$out/fleet.md" "$out/fleet-logs"
runs=()
for scale in $SCALES; do
for mode in $MODES; do
	run="$mode-s$scale"
	runs+=("$run")
	d="$tmp/$run"
	mkdir -p "$d"
	note "$run: fresh world, throttling on at scale $scale, $NODES agents"
	w=$(ctl POST /_emulator/scenario "$scenario")
	[ "$(jq -c '[.enis[].mac]' <<<"$w")" = "$(jq -c '[.enis[].mac]' <<<"$world")" ] ||
		die "the rebuilt world's ENI MACs differ from the veths' (the emulator's seed no longer makes them reproducible)"
	ctl POST /_emulator/throttle "{\"enabled\": true, \"scale\": $scale}" >/dev/null
	start_agents "$d" "$w"
	specs=()
	for ((k = 0; k < NODES; k++)); do
		conf "$mode" $k "$d/n$k/data" "$w" >"$d/n$k/conf.json"
		specs+=("n$k,/proc/${holder_pids[$k]}/ns/net,$d/n$k/conf.json,$d/n$k/agent.sock")
	done
	note "$run: $NODES nodes x $PODS pods, ADD+DEL for ${SECONDS_PER_MODE}s"
	# In the background and waited for, so that a signal to this script is acted on at once (cleanup kills it).
	FLEET_MAX_CYCLES=${FLEET_MAX_CYCLES:-0} setpriv --pdeathsig KILL "$bin/fleet-driver" "$SECONDS_PER_MODE" "$PODS" \
		"$bin/eni-multus" "${specs[@]}" >"$out/fleet-$run.jsonl" 2>"$d/driver.log" &
	driver_pid=$!
	wait $driver_pid || { cat "$d/driver.log" >&2; die "fleet-driver failed"; }
	driver_pid=""
	cat "$d/driver.log" >&2
	# What EC2 saw, what it throttled, what the ENIs hold now, IMDS requests; then what each agent logged.
	jq -n --argjson counts "$(ctl GET /_emulator/counts)" --argjson throttle "$(ctl GET /_emulator/throttle)" \
		--argjson enis "$(ctl GET /_emulator/enis)" --argjson imds "$(ctl GET /_emulator/imds)" \
		'{counts: $counts, throttle: $throttle, enis: $enis, imds: [$imds[] | {url, instance, counts}]}' \
		>"$out/fleet-$run.state.json"
	stop_agents
	for ((k = 0; k < NODES; k++)); do
		grep -c "EC2 throttled" "$d/n$k/agent.log" || true
	done | jq -s '{agentThrottleLogLines: add}' >"$d/agents.json"
	jq -s '.[0] + .[1]' "$out/fleet-$run.state.json" "$d/agents.json" >"$d/s.json" && mv "$d/s.json" "$out/fleet-$run.state.json"
	mkdir -p "$out/fleet-logs/$run"
	for ((k = 0; k < NODES; k++)); do cp "$d/n$k/agent.log" "$out/fleet-logs/$run/agent-n$k.log"; done
done
done

# ---------------------------------------------------------------------------------------------------- report
t_end=$(date +%s)
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
python3 "$here/fleet_report.py" --out "$out" --runs "${runs[*]}" --nodes "$NODES" --pods "$PODS" \
	--seconds "$SECONDS_PER_MODE" --nproc "$(nproc)" --cpu "$cpu" --kernel "$(uname -r)" \
	--load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
	--build-seconds $((t_built - t_start)) --total-seconds $((t_end - t_start)) \
	--agent-rate "${FLEET_EC2_RATE:-5}" --agent-burst "${FLEET_EC2_BURST:-20}" --reconcile "$RECONCILE" \
	--command "$(env | grep -E '^FLEET_' | sort | tr '\n' ' ')bash bench/fleet.sh"
note "done in $((t_end - t_start)) s (build $((t_built - t_start)) s); bench/out/fleet.json, bench/out/fleet.md"
