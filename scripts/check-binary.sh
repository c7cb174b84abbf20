#!/bin/bash
# The binary contract for what we install on nodes, checked on the release artefact (the binary install/ ships):
#
#   bash scripts/check-binary.sh [BINARY]        (default: build it with scripts/build-release.sh)
#
# 1. It is one static executable: no program interpreter, no dynamic section, no NEEDED entry, so nothing of the
#    node's own libraries (glibc 2.34 on Amazon Linux 2023, none at all for our purposes on Bottlerocket) is used.
# 2. No AWS, HTTP, TLS or XML code: the plugin reaches EC2 only through the node agent's socket, so it names no
#    libcurl/libcrypto/libexpat to load, no SigV4 or EC2 Query API text and no instance metadata address.
# 3. It runs inside a root holding nothing but itself (no libc, no shell, no ld.so.cache), entered with chroot as
#    Multus thick enters the node's root. There: VERSION, then ADD -> CHECK -> DEL of a host-device move with the
#    built-in IPAM (a veth "ENI" in a scratch node netns, the pod in a scratch netns; the chroot gets /proc, /sys and
#    /run/netns as a node's root has them), then the IPAM store must hold no reservation.
#
# Prints the program headers and every check; the last line is
# "check-binary: N checks passed, N checks failed". Exit 0 when all pass, 1 otherwise. Needs root, binutils,
# iproute2, jq.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"

pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok:   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "check-binary: $pass checks passed, $fail checks failed"; [ "$fail" = 0 ]; exit $?; }

bin=${1:-}
if [ -z "$bin" ]; then
	bin=$(bash scripts/build-release.sh | tail -1) || { bad "release build"; finish; }
fi
[ -x "$bin" ] || { bad "$bin is not an executable"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
for tool in readelf objdump strings jq ip chroot; do
	command -v "$tool" >/dev/null || { bad "$tool is missing (bash scripts/setup.sh installs it)"; finish; }
done

# ---- 1: what the binary asks of the node
segments=$(readelf -l -W "$bin" | awk '$1 ~ /^[A-Z_]+$/ && $2 ~ /^0x/ { print $1 }')
echo "program headers: $(echo $segments)"
dynamic=$(grep -E '^(INTERP|DYNAMIC)$' <<<"$segments" | tr '\n' ' ')
needed=$(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')
if [ -z "$dynamic$needed" ]; then ok "a static executable: no program interpreter, no dynamic section, no NEEDED"
else bad "not a static executable: ${dynamic}NEEDED: $(echo $needed)"; fi
# ---- 2: no AWS code
aws=$(strings -a "$bin" | grep -oE 'libcurl\.so[.0-9]*|libcrypto\.so[.0-9]*|libssl\.so[.0-9]*|libexpat\.so[.0-9]*|AWS4-HMAC-SHA256|X-Amz-[A-Za-z-]+|AssignPrivateIpAddresses|DescribeNetworkInterfaces|169\.254\.169\.254|curl_easy_[a-z]+|XML_ParserCreate' | sort -u)
if [ -z "$aws" ]; then ok "no AWS, HTTP, TLS or XML code (no libcurl/libcrypto/libexpat, SigV4, EC2 API or IMDS text)"
else bad "AWS/HTTP/TLS/XML code in the plugin: $(echo $aws)"; fi

# ---- 3: a root with nothing but the plugin
[ "$(id -u)" = 0 ] || { bad "the minimal-root run needs root"; finish; }
work=$(mktemp -d /tmp/emt-minroot.XXXXXX)
node=emt-minroot-node-$$ pod=emt-minroot-pod-$$
cleanup() {
	ip netns del "$pod" 2>/dev/null; ip netns del "$node" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mroot=$work/root
chroot_bin=$(command -v chroot)
install -D -m 0755 "$bin" "$mroot/opt/cni/bin/eni-multus"
mkdir -p "$mroot/proc" "$mroot/sys" "$mroot/run/netns" "$mroot/var/lib/cni"
files=$(find "$mroot" -type f | sed "s|^$mroot||")
if [ "$files" = /opt/cni/bin/eni-multus ]; then ok "the root holds one file: /opt/cni/bin/eni-multus"
else bad "the root is not empty but for the plugin: $(echo $files)"; fi

ip netns add "$node" && ip netns add "$pod" || { bad "scratch network namespaces"; finish; }
ip -n "$node" link add eni0 type veth peer name eni0peer && ip -n "$node" link set eni0 up && ip -n "$node" link set eni0peer up
ip -n "$node" link set lo up
conf='{"cniVersion":"1.1.0","name":"minroot","type":"eni-multus","link":"host-device","device":"eni0","ipam":{"type":"eni-multus","dataDir":"/var/lib/cni/eni-multus","subnet":"10.77.0.0/24"}}'
# chrooted VERB [CONF]: the plugin inside the root, in the node netns (ip netns exec gives a private mount namespace,
# so the mounts below vanish with it).
chrooted() {
	ip netns exec "$node" sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" && mount -t sysfs sysfs "$r/sys" && mount --rbind /run/netns "$r/run/netns" || exit 99
		exec env -i CNI_COMMAND="$1" CNI_CONTAINERID=minroot1 CNI_NETNS=/run/netns/'"$pod"' CNI_IFNAME=net1 \
			CNI_PATH=/opt/cni/bin '"$chroot_bin"' "$r" /opt/cni/bin/eni-multus' sh "$mroot" "$1" <<<"${2:-}"
}
out=$(chrooted VERSION 2>"$work/err"); s=$?
if [ "$s" = 0 ] && [ "$(jq -r .cniVersion <<<"$out" 2>/dev/null)" = 1.1.0 ]; then ok "VERSION in the minimal root: $out"
else bad "VERSION in the minimal root: status $s, $out $(cat "$work/err")"; fi
result=$(chrooted ADD "$conf" 2>"$work/err"); s=$?
if [ "$s" = 0 ] && [ "$(jq -r '.ips[0].address' <<<"$result" 2>/dev/null)" = 10.77.0.2/24 ] &&
	ip -n "$pod" -br addr show dev net1 2>/dev/null | grep -q '10.77.0.2/24'; then
	ok "ADD (host-device, built-in IPAM) in the minimal root: eni0 is net1 in the pod with 10.77.0.2/24"; added=1
else added=0; bad "ADD in the minimal root: status $s, $result $(cat "$work/err")"; fi
withprev=$(jq -c --argjson prev "${result:-null}" '. + {prevResult: $prev}' <<<"$conf" 2>/dev/null || echo "$conf")
out=$(chrooted CHECK "$withprev" 2>&1); s=$?
if [ "$s" = 0 ]; then ok "CHECK in the minimal root"; else bad "CHECK in the minimal root: status $s, $out"; fi
out=$(chrooted DEL "$withprev" 2>&1); s=$?
if [ "$added" = 1 ] && [ "$s" = 0 ] && ip -n "$node" link show eni0 >/dev/null 2>&1 && ! ip -n "$pod" link show net1 >/dev/null 2>&1; then
	ok "DEL in the minimal root: eni0 back in the node netns"
else bad "DEL in the minimal root: status $s, $out"; fi
store=$mroot/var/lib/cni/eni-multus/minroot
[ -d "$store" ] || bad "ADD left no IPAM store in the root ($store)"
left=$(find "$store" -type f ! -name lock ! -name 'last_reserved_ip.*' \
	! -path '*/cooling/*' 2>/dev/null | sed "s|^$mroot||")
if [ -z "$left" ]; then ok "no reservation left in the store"; else bad "the store still holds: $left"; fi
finish
