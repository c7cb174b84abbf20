#!/bin/bash
# The plugin's main job, end to end: build eni-multus, then
#   1. inside user-mode Linux (a real 6.1 kernel with ipvlan): ADD -> CHECK -> DEL of an ipvlan interface on an
#      "ENI" stand-in (a veth end in a simulated node netns), with the built-in range IPAM, dual-stack;
#   2. on the host kernel: ADD -> CHECK -> DEL of a host-device move of an "ENI" stand-in into a pod netns.
# Prints each CNI result and the pod's interface, addresses and routes. Needs root (see README for packages).
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
echo "=== building eni-multus"
swift build --product eni-multus 2>&1 | tail -1
bin="$root/.build/debug/eni-multus"
"$here/uml/run.sh" -- bash "$here/demo.sh" --inside-uml "$bin"
data=$(mktemp -d /tmp/emtdemo.XXXXXX)
trap 'rm -rf "$data"' EXIT
scenario "host-device move (host kernel $(uname -r))" \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"demo-hostdev\",\"type\":\"eni-multus\",\"link\":\"host-device\",\"device\":\"eni0\",\"ipam\":{\"type\":\"eni-multus\",\"dataDir\":\"$data\",\"subnet\":\"10.0.5.0/24\",\"routes\":[{\"dst\":\"10.0.8.0/21\"}]}}"
