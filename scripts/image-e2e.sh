#!/bin/bash
# The DaemonSet's containers, run with podman exactly as install/daemonset.yaml runs them, against the EC2 emulator:
#
#   bash scripts/image-e2e.sh [IMAGE]      (default: bash scripts/build-image.sh first)
#
# The pod's containers are read from install/daemonset.yaml (command lines, volume mounts, privileged) and run
# from IMAGE with: hostNetwork -> the network namespace of a scratch "node" (emt-img-PID), where the emulator
# (Tests/Emulators/ec2env.py: moto, IMDSv2, control API) listens on the node's loopback; every hostPath volume ->
# the same path below a temporary directory standing in for the host root; the ConfigMap -> install/configmap.yaml's
# config.json with the emulator's cluster, subnets and security group filled in. The only additions are the AWS
# endpoint variables that point the node binary at the emulator (on EKS, IRSA or the instance role supply them).
# The node's hot-plug is simulated: once EC2 says an ENI is attached to the node, a veth carrying its MAC appears
# (down) in the node netns, as a real ENI's link would.
#
# Checks:
#   init container (install --attach): exits 0; the plugin is in the host's CNI bin directory, 0755, identical to
#     the image's, no temporary file beside it; one ENI of ours created, tagged and attached to the node, its
#     link found by MAC and brought up, the networkd drop-in written; the installed plugin then runs from there
#     (scripts/check-binary.sh on it: the binary contract and the minimal-root ADD/CHECK/DEL);
#   watch container (status --watch --repair): reports the node's ENI as ours with no drift, keeps running;
#   agent container (the node agent): listens on the host's /run/eni-multus/agent.sock (0600); a reconcile pass
#     logged, GET /metrics on :9464 from the node answers; then the installed plugin, run on the host with no AWS
#     variable at all, does an EC2-registered ADD (host-device of the ENI's link, `ec2` IPAM mode) through that
#     socket: the address lands on the ENI in EC2; DEL releases it; the agent counts the requests.
# The last line is "image-e2e: N checks passed, N checks failed"; exit 0 when all pass.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$(pwd)

# ---------------------------------------------------------------- inner phase (private mount namespace)
if [ "${1:-}" = --inner ]; then
	# crun 1.8 refuses a hybrid cgroup layout: hide its unified tree in this mount namespace only (scripts/lib).
	mount --make-rprivate /
	. scripts/lib/crun-cgroup.sh
	hide_hybrid_cgroup || exit 1
	shift
	exec "$@"
fi

pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok:   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
jqtest() { jq -e "$@" >/dev/null 2>&1; } # FILTER [ARGS]: true when the filter's output is true
summary() { echo "image-e2e: $pass checks passed, $fail checks failed"; }

[ "$(id -u)" = 0 ] || { echo "image-e2e: run as root" >&2; summary; exit 1; }
for c in podman ip jq python3 curl; do
	command -v "$c" >/dev/null || { bad "$c is missing (bash scripts/setup.sh test)"; summary; exit 1; }
done
start=$(date +%s)
image=${1:-}
if [ -z "$image" ]; then
	image=$(bash scripts/build-image.sh | tail -1) || { bad "bash scripts/build-image.sh"; summary; exit 1; }
fi
podman image exists "$image" || { bad "no image $image"; summary; exit 1; }
echo "==> image $image"

tmp=$(mktemp -d /tmp/emt-image.XXXXXX)
host=$tmp/host
node=emt-img-$$
emu_pid="" hp_pid=""
pm() { bash "$0" --inner podman --log-level=warn "$@"; }
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for c in $(podman ps -a --filter "label=emt-image-e2e=$$" --format '{{.Names}}' 2>/dev/null); do
		pm rm -f -t 0 "$c" >/dev/null 2>&1
	done
	[ -n "$hp_pid" ] && kill "$hp_pid" 2>/dev/null
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$node" 2>/dev/null
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the node: a netns, the emulator on its loopback, the hot-plug stand-in
ip netns add "$node" && ip -n "$node" link set lo up || { bad "netns $node"; summary; exit 1; }
scenario='{"instances":[{"name":"node1","enis":[]}]}'
ip netns exec "$node" python3 Tests/Emulators/ec2env.py --no-stdin-watch --scenario "$scenario" \
	--ready-file "$tmp/emu.json" >"$tmp/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 300); do [ -s "$tmp/emu.json" ] && break; kill -0 "$emu_pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$tmp/emu.json" ] || { cat "$tmp/emu.log"; bad "the EC2 emulator did not start"; summary; exit 1; }
control=$(jq -r .control "$tmp/emu.json")
get() { ip netns exec "$node" curl -sf --max-time 10 "$control$1"; }
world=$(ip netns exec "$node" curl -sf -X POST --data "$scenario" "$control/_emulator/scenario")
instance=$(jq -r '.instances.node1.id' <<<"$world")
subnet_a=$(jq -r '.subnets["multus-us-east-1a"].id' <<<"$world")
subnet_b=$(jq -r '.subnets["multus-us-east-1b"].id' <<<"$world")
sg=$(jq -r '.securityGroups.multus' <<<"$world")
echo "==> emulator: node $instance, multus subnets $subnet_a $subnet_b, security group $sg"

# Hot-plug: a veth with the MAC of every ENI EC2 attaches to the node (at device index >= 1), as the kernel would.
(
	n=0
	while true; do
		for mac in $(get /_emulator/enis | jq -r --arg i "$instance" \
			'.[] | select(.instanceId == $i and (.deviceIndex // 0) >= 1) | .mac'); do
			ip -n "$node" -o link | grep -q "link/ether $mac " && continue
			n=$((n + 1))
			ip -n "$node" link add "hp$n" address "$mac" type veth peer name "hpp$n" && echo "hot-plug: hp$n $mac"
		done
		sleep 0.2
	done
) >"$tmp/hotplug.log" 2>&1 &
hp_pid=$!

# ---- the ConfigMap's config.json, filled in for the emulator's world
mkdir -p "$tmp/config" "$host"
python3 - "$tmp/config/config.json" "$subnet_a" "$subnet_b" "$sg" <<'EOF'
import json, sys, yaml
cm = yaml.safe_load(open("install/configmap.yaml"))
conf = json.loads(cm["data"]["config.json"])
conf["clusterName"] = "image-e2e"
conf["subnets"] = [{"ids": [sys.argv[2], sys.argv[3]]}]
conf["securityGroups"] = [sys.argv[4]]
conf["linkTimeoutSeconds"] = 20
json.dump(conf, open(sys.argv[1], "w"), indent=2)
EOF
[ -s "$tmp/config/config.json" ] || { bad "config.json from install/configmap.yaml"; summary; exit 1; }

# ---- install/daemonset.yaml -> one JSON line per container: name, init, command, mounts, privileged
python3 - "$host" "$tmp/config" >"$tmp/containers.jsonl" <<'EOF'
import json, sys, yaml
host, config = sys.argv[1], sys.argv[2]
ds = yaml.safe_load(open("install/daemonset.yaml"))
spec = ds["spec"]["template"]["spec"]
assert spec.get("hostNetwork") is True, "the DaemonSet must run on the host network"
sources = {}
for v in spec["volumes"]:
    if "hostPath" in v:
        sources[v["name"]] = host + v["hostPath"]["path"]
    elif "configMap" in v:
        sources[v["name"]] = config
    else:
        raise SystemExit("image-e2e: volume kind not handled: %s" % v)
for init, key in ((True, "initContainers"), (False, "containers")):
    for c in spec.get(key, []):
        mounts = [[sources[m["name"]], m["mountPath"], bool(m.get("readOnly"))] for m in c.get("volumeMounts", [])]
        env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
        print(json.dumps({"name": c["name"], "init": init, "command": c["command"], "args": c.get("args", []),
                          "mounts": mounts, "env": env,
                          "privileged": bool(c.get("securityContext", {}).get("privileged"))}))
EOF
[ -s "$tmp/containers.jsonl" ] || { bad "reading install/daemonset.yaml"; summary; exit 1; }
for d in $(jq -r '.mounts[] | select(.[0] | startswith("'"$host"'")) | .[0]' "$tmp/containers.jsonl" | sort -u); do
	mkdir -p "$d" # kubelet's DirectoryOrCreate
done
aws_env=(-e "AWS_ENDPOINT_URL_EC2=$(jq -r .ec2 "$tmp/emu.json")" -e "AWS_EC2_METADATA_SERVICE_ENDPOINT=$(jq -r .imds "$tmp/emu.json")"
	-e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=testing -e AWS_SECRET_ACCESS_KEY=testing)
podman_args() { # NAME: the podman run arguments for that container of the DaemonSet
	local c
	c=$(jq -c --arg n "$1" 'select(.name == $n)' "$tmp/containers.jsonl")
	[ -n "$c" ] || return 1
	args=(--name "emt-img-$$-$1" --label "emt-image-e2e=$$" --network "ns:/run/netns/$node"
		--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "${aws_env[@]}")
	[ "$(jq -r .privileged <<<"$c")" = true ] && args+=(--privileged)
	while IFS=$'\t' read -r src dst ro; do
		args+=(-v "$src:$dst$([ "$ro" = true ] && echo :ro)")
	done < <(jq -r '.mounts[] | @tsv' <<<"$c")
	while IFS=$'\t' read -r k v; do [ -n "$k" ] && args+=(-e "$k=$v"); done < <(jq -r '.env | to_entries[] | [.key, .value] | @tsv' <<<"$c")
	args+=(--entrypoint "$(jq -r '.command[0]' <<<"$c")" "$image")
	mapfile -t -O "${#args[@]}" args < <(jq -r '.command[1:][], .args[]' <<<"$c")
}
ours() { get /_emulator/enis | jq -c '[to_entries[] | .value + {id: .key} | select(.tags["eni-multus.io/cluster"] == "image-e2e")]'; }
wait_log() { # CONTAINER PATTERN SECONDS
	local i
	for i in $(seq $(($3 * 5))); do
		podman logs "$1" 2>&1 | grep -qE "$2" && return 0
		sleep 0.2
	done
	return 1
}

# ---- 1: the init container: install --attach
init=$(jq -r 'select(.init) | .name' "$tmp/containers.jsonl" | head -1)
podman_args "$init" || { bad "no init container in install/daemonset.yaml"; summary; exit 1; }
echo "==> init container $init: ${args[*]: -8}"
t0=$(date +%s%N)
pm run --rm "${args[@]}" >"$tmp/init.out" 2>&1
rc=$?
sed 's/^/    | /' "$tmp/init.out"
echo "    ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
check "$init: exit status 0 (got $rc)" [ "$rc" = 0 ]
installed=$host/opt/cni/bin/eni-multus
pm run --rm --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --entrypoint cat "$image" /opt/eni-multus/bin/eni-multus >"$tmp/image-plugin" 2>/dev/null
check "$init: the plugin is in the host's CNI bin directory" [ -f "$installed" ]
check "$init: mode 0755" [ "$(stat -c %a "$installed" 2>/dev/null)" = 755 ]
check "$init: identical to the image's /opt/eni-multus/bin/eni-multus" cmp -s "$installed" "$tmp/image-plugin"
notice=$(pm run --rm --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --entrypoint cat "$image" \
	/usr/share/doc/eni-multus/libmnl.copyright 2>/dev/null)
check "the image carries the licence notice of the libmnl linked into the plugin" grep -q 'LGPL-2.1' <<<"$notice"
check "$init: nothing else in the CNI bin directory (atomic install leaves no temporary file)" \
	[ "$(ls -A "$host/opt/cni/bin")" = eni-multus ]
enis=$(ours)
check "$init: one ENI of ours in EC2 ($(jq -r 'map(.id) | join(" ")' <<<"$enis"))" [ "$(jq length <<<"$enis")" = 1 ]
eni=$(jq -r '.[0].id // ""' <<<"$enis") mac=$(jq -r '.[0].mac // ""' <<<"$enis")
check "$init: $eni attached to $instance, tagged no_manage, node and cluster" \
	jqtest --arg i "$instance" '.[0] | .instanceId == $i and .tags["node.k8s.amazonaws.com/no_manage"] == "true"
		and .tags["eni-multus.io/node"] == $i' <<<"$enis"
link=$(ip -n "$node" -o link | grep "link/ether $mac " | awk -F': ' '{print $2}' | sed 's/@.*//')
check "$init: its link ($link, $mac) is up in the node" grep -q "[<,]UP[,>]" <<<"$(ip -n "$node" link show "${link:-none}" 2>&1)"
check "$init: the networkd drop-in is written ($(ls "$host/etc/systemd/network" 2>/dev/null | tr '\n' ' '))" \
	[ -n "$(ls -A "$host/etc/systemd/network" 2>/dev/null)" ]
out=$(CNI_COMMAND=VERSION "$installed" </dev/null 2>&1)
check "the installed plugin runs from the host's CNI bin directory: $out" jqtest '.cniVersion == "1.1.0"' <<<"$out"
echo "==> scripts/check-binary.sh on the installed plugin"
bash scripts/check-binary.sh "$installed" | sed 's/^/    /'
check "the installed plugin meets the binary contract and runs in a minimal root" [ "${PIPESTATUS[0]}" = 0 ]

# ---- 2: the watch container: status --watch --repair
for name in $(jq -r 'select(.init | not) | .name' "$tmp/containers.jsonl"); do
	podman_args "$name"
	echo "==> container $name: ${args[*]: -12}"
	pm run -d "${args[@]}" >/dev/null 2>"$tmp/$name.err" || { cat "$tmp/$name.err"; bad "$name: podman run -d"; continue; }
	cname=emt-img-$$-$name
	case "$name" in
	watch)
		check "$name: reports $eni as ours with no drift" wait_log "$cname" "no drift" 60
		check "$name: names $eni" wait_log "$cname" "$eni" 1
		sleep 1
		check "$name: still running after its first round" \
			[ "$(podman inspect "$cname" --format '{{.State.Running}}' 2>/dev/null)" = true ]
		;;
	agent)
		sock=$host/run/eni-multus/agent.sock
		check "$name: listening on the host's /run/eni-multus/agent.sock" wait_log "$cname" "agent: listening on " 60
		check "$name: the socket is root-only (0600)" [ "$(stat -c %a "$sock" 2>/dev/null)" = 600 ]
		check "$name: a reconcile pass is logged" wait_log "$cname" "reconcile: " 60
		metrics=$(ip netns exec "$node" curl -sf --max-time 10 http://127.0.0.1:9464/metrics)
		check "$name: GET :9464/metrics on the node answers" [ -n "$metrics" ]
		check "$name: one pass counted" grep -qx 'eni_multus_reconcile_passes_total 1' <<<"$metrics"
		check "$name: no EC2 error counted" grep -qx 'eni_multus_ec2_errors_total 0' <<<"$metrics"
		check "$name: no leaked address" grep -qx 'eni_multus_leaked_addresses 0' <<<"$metrics"
		# The installed plugin, on the host, with nothing of AWS in its environment: EC2 only through the agent.
		pod=emt-img-pod-$$
		ip netns add "$pod"
		conf=$(jq -nc --arg eni "$eni" --arg sock "$sock" --arg dir "$host/var/lib/cni/eni-multus" \
			'{cniVersion: "1.1.0", name: "image-e2e", type: "eni-multus", link: "host-device", eni: {id: $eni},
			  agentSocket: $sock, ipam: {type: "eni-multus", mode: "ec2", cooldownSeconds: 0, dataDir: $dir}}')
		plugin() { ip netns exec "$node" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_CONTAINERID=img1 \
			CNI_NETNS=/run/netns/$pod CNI_IFNAME=net1 CNI_PATH=/opt/cni/bin "$installed" <<<"$conf"; }
		add=$(plugin ADD 2>"$tmp/add.err")
		echo "$add" | sed 's/^/    | /'
		addr=$(jq -r '.ips[0].address // "" | split("/")[0]' <<<"$add" 2>/dev/null)
		check "$name: the installed plugin's ADD through the agent succeeds (${addr:-no address})" [ -n "$addr" ]
		check "$name: $addr is assigned to $eni in EC2" \
			jqtest --arg e "$eni" --arg a "$addr" '.[$e].privateIps | index($a) != null' <<<"$(get /_emulator/enis)"
		check "$name: the ENI's link is net1 in the pod" ip -n "$pod" link show net1
		plugin DEL >/dev/null 2>"$tmp/del.err"
		check "$name: DEL through the agent releases $addr in EC2" \
			jqtest --arg e "$eni" --arg a "$addr" '.[$e].privateIps | index($a) == null' <<<"$(get /_emulator/enis)"
		ip netns del "$pod"
		metrics=$(ip netns exec "$node" curl -sf --max-time 10 http://127.0.0.1:9464/metrics)
		check "$name: the agent served the plugin's requests" \
			awk '$1 == "eni_multus_agent_ec2_mutations_total" && $2 >= 2 { ok = 1 } END { exit !ok }' <<<"$metrics"
		;;
	*) bad "container $name of install/daemonset.yaml has no check here" ;;
	esac
	podman logs "$cname" 2>&1 | sed 's/^/    | /'
	pm rm -f -t 2 "$cname" >/dev/null 2>&1
done
echo "==> $(( $(date +%s) - start )) s"
summary
[ "$fail" = 0 ]
