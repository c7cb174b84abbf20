#!/bin/bash
# Failpoints (ENI_MULTUS_FAILPOINT, issue 7) exist only in debug builds. This builds the release binary the way
# it is shipped (scripts/build-release.sh) and shows, with one IPAM-role ADD each (no netns, no root needed):
# the debug binary is killed (SIGKILL, status 137) at `add.ipam.after-record`, the release binary ignores the
# variable and succeeds. Exit 0 when both hold.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
debug=.build/debug/eni-multus
[ -x "$debug" ] || swift build --product eni-multus >/dev/null || exit 1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
release=$(bash scripts/build-release.sh 2>"$dir/build.log" | tail -1) && [ -x "$release" ] || { cat "$dir/build.log"; exit 1; }
conf='{"cniVersion":"1.1.0","name":"fpcheck","type":"macvlan","ipam":{"type":"eni-multus","dataDir":"'$dir'/data","subnet":"10.55.0.0/24"}}'
run() { # BINARY VERB [FAILPOINT]
	env -i CNI_COMMAND="$2" CNI_CONTAINERID=c1 CNI_NETNS=/proc/self/ns/net CNI_IFNAME=net1 CNI_PATH=/nonexistent \
		${3:+ENI_MULTUS_FAILPOINT=$3} "$1" <<<"$conf" >/dev/null 2>&1
}
fail=0
run "$debug" ADD add.ipam.after-record; s=$?
echo "debug   ADD with ENI_MULTUS_FAILPOINT=add.ipam.after-record: status $s (want 137, SIGKILL)"
[ "$s" = 137 ] || fail=1
run "$debug" DEL || fail=1
run "$release" ADD add.ipam.after-record; s=$?
echo "release ADD with ENI_MULTUS_FAILPOINT=add.ipam.after-record: status $s (want 0, the variable is ignored)"
[ "$s" = 0 ] || fail=1
run "$release" DEL || fail=1
[ "$fail" = 0 ] && echo "release-failpoints: ok" || echo "release-failpoints: FAILED"
exit $fail
