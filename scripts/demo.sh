#!/bin/bash
# The plugin's main job, end to end: build eni-multus, then
#   1. inside user-mode Linux (a real 6.1 kernel with ipvlan): ADD -> CHECK -> DEL of an ipvlan interface on an
#      "ENI" stand-in (a veth end in a simulated node netns), with the built-in range IPAM, dual-stack;
#   2. on the host kernel: ADD -> CHECK -> DEL of a host-device move of an "ENI" stand-in into a pod netns;
#   3. EC2 registration against the embedded emulator (moto + IMDSv2 on 127.0.0.1), through the node agent
#      (eni-multus-node agent, the only process with AWS credentials): the ENI's addresses in EC2 before ADD,
#      after ADD and after DEL.
# Prints each CNI result and the pod's interface, addresses and routes. Needs root; installs what it needs first
# (scripts/setup.sh demo: Debian packages and moto, only those missing, each named).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

cni() { # cni VERB NODE_NS CONF [IFNAME]
	local verb=$1 node=$2 conf=$3 ifname=${4:-net1}
	echo "--- $verb ($(echo "$conf" | jq -r '.link // "ipvlan"'))" >&2
	ip netns exec "$node" env CNI_COMMAND="$verb" CNI_CONTAINERID=demo1 CNI_NETNS=/run/netns/"$pod" \
		CNI_IFNAME="$ifname" CNI_PATH=/usr/lib/cni "$bin" <<<"$conf"
}

scenario() { # scenario NAME CONF-WITHOUT-PREVRESULT
	local name=$1 conf=$2
	node=emtdemo-node-$$ pod=emtdemo-pod-$$
	trap 'ip netns del "$pod" 2>/dev/null || true; ip netns del "$node" 2>/dev/null || true' RETURN
	ip netns add "$node"; ip netns add "$pod"
	ip -n "$node" link add eni0 type veth peer name eni0peer
	ip -n "$node" link set eni0 up; ip -n "$node" link set eni0peer up
	echo "=== $name"
	result=$(cni ADD "$node" "$conf")
	echo "$result"
	echo "--- pod netns after ADD:"
	ip -n "$pod" -d -br link show dev net1
	ip -n "$pod" -br addr show dev net1
	ip -n "$pod" route show dev net1; ip -n "$pod" -6 route show dev net1 | grep -v fe80 || true
	withprev=$(jq -c --argjson prev "$result" '. + {prevResult: $prev}' <<<"$conf")
	cni CHECK "$node" "$withprev" && echo "CHECK: ok"
	cni DEL "$node" "$withprev" && echo "DEL: ok"
	echo "--- pod netns after DEL:"; ip -n "$pod" -br link
	echo "--- node netns after DEL:"; ip -n "$node" -br link
	echo "--- IPAM store after DEL:"; find "$data" -type f ! -name lock ! -name 'last_reserved_ip.*' | sed 's/^/  /'; echo "  (end)"
}

if [ "${1:-}" = "--inside-uml" ]; then
	bin=$2 data=$(mktemp -d /tmp/emtdemo.XXXXXX)
	scenario "ipvlan l2, dual-stack, built-in IPAM (inside UML, kernel $(uname -r))" \
		"{\"cniVersion\":\"1.1.0\",\"name\":\"demo-ipvlan\",\"type\":\"eni-multus\",\"master\":\"eni0\",\"mode\":\"l2\",\"ipam\":{\"type\":\"eni-multus\",\"dataDir\":\"$data\",\"ranges\":[[{\"subnet\":\"10.0.4.0/24\",\"rangeStart\":\"10.0.4.32\"}],[{\"subnet\":\"fd00:4::/64\"}]],\"routes\":[{\"dst\":\"10.0.8.0/21\"}]}}"
	rm -rf "$data"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
cd "$root"
bash "$here/setup.sh" demo
echo "=== building eni-multus"
swift build --product eni-multus 2>&1 | tail -1
swift build --product eni-multus-node 2>&1 | tail -1
bin="$root/.build/debug/eni-multus"
node_bin="$root/.build/debug/eni-multus-node"
"$here/uml/run.sh" -- bash "$here/demo.sh" --inside-uml "$bin"
data=$(mktemp -d /tmp/emtdemo.XXXXXX)
emu_pid="" agent_pid=""
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null; [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
	rm -rf "$data"; ip link del emtdemo-eni 2>/dev/null || true
}
trap cleanup EXIT
scenario "host-device move (host kernel $(uname -r))" \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"demo-hostdev\",\"type\":\"eni-multus\",\"link\":\"host-device\",\"device\":\"eni0\",\"ipam\":{\"type\":\"eni-multus\",\"dataDir\":\"$data\",\"subnet\":\"10.0.5.0/24\",\"routes\":[{\"dst\":\"10.0.8.0/21\"}]}}"

# 3. EC2 registration against the embedded emulator (moto + IMDSv2 + fault proxy on 127.0.0.1): the multus ENI is
#    selected through IMDS/EC2 by subnet, found on the node by its MAC, and the pod's addresses are assigned to it.
echo "=== EC2 registration (emulated EC2 and IMDSv2 on 127.0.0.1)"
python3 "$root/Tests/Emulators/ec2env.py" --no-stdin-watch --scenario '{}' --ready-file "$data/emu.json" >"$data/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do [ -s "$data/emu.json" ] && break; sleep 0.1; done
control=$(jq -r .control "$data/emu.json")
world=$(python3 -c 'import json,sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]+"/_emulator/scenario").read().decode())' "$control")
eni=$(jq -r .enis.multus.id <<<"$world"); mac=$(jq -r .enis.multus.mac <<<"$world")
subnet=$(jq -r '.subnets["multus-us-east-1a"].id' <<<"$world"); v6=$(jq -r '.subnets["multus-us-east-1a"].ipv6Cidr' <<<"$world")
v4=$(jq -r '.subnets["multus-us-east-1a"].cidr' <<<"$world"); start=${v4%.0/24}.200
enistate() { python3 -c 'import json,sys,urllib.request; e=json.load(urllib.request.urlopen(sys.argv[1]+"/_emulator/enis"))[sys.argv[2]]; print("  %s: IPv4 %s  IPv6 %s" % (sys.argv[2], e["privateIps"], e["ipv6s"]))' "$control" "$eni"; }
# The node agent holds the AWS session (credentials, region, endpoints); the plugin only talks to its socket.
env AWS_ENDPOINT_URL_EC2="$(jq -r .ec2 "$data/emu.json")" AWS_EC2_METADATA_SERVICE_ENDPOINT="$(jq -r .imds "$data/emu.json")" \
	AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	"$node_bin" agent --socket "$data/agent.sock" --data-dir "$data" 2>"$data/agent.log" &
agent_pid=$!
for _ in $(seq 100); do [ -S "$data/agent.sock" ] && break; sleep 0.1; done
echo "--- node agent: $(head -1 "$data/agent.log")"
export ENI_MULTUS_AGENT_SOCKET="$data/agent.sock"
# The "ENI": a veth carrying the ENI's MAC, in this (node) netns where the emulator's loopback is.
ip link add emtdemo-eni address "$mac" type veth peer name emtdemo-enp; ip link set emtdemo-eni up
pod=emtdemo-pod-$$; ip netns add "$pod"
conf="{\"cniVersion\":\"1.0.0\",\"name\":\"demo-ec2\",\"type\":\"eni-multus\",\"link\":\"host-device\",\"eni\":{\"subnetId\":\"$subnet\"},\"ipam\":{\"type\":\"eni-multus\",\"dataDir\":\"$data\",\"ranges\":[[{\"subnet\":\"$v4\",\"rangeStart\":\"$start\"}],[{\"subnet\":\"$v6\"}]]}}"
ec2cni() { env CNI_COMMAND="$1" CNI_CONTAINERID=demo1 CNI_NETNS=/run/netns/"$pod" CNI_IFNAME=net1 CNI_PATH=/usr/lib/cni "$bin" <<<"$conf"; }
echo "--- the ENI in EC2 before ADD:"; enistate
echo "--- ADD (host-device, eni by subnetId $subnet)"; ec2cni ADD
echo "--- the ENI in EC2 after ADD:"; enistate
ec2cni DEL && echo "DEL: ok"
echo "--- the ENI in EC2 after DEL:"; enistate
ip netns del "$pod"
