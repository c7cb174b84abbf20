#!/bin/bash
# Failpoints (ENI_MULTUS_FAILPOINT) and mutants (ENI_MULTUS_MUTANT, deliberate bugs the
# campaigns' companion tests switch on) exist only in debug builds. This builds the release binary the way it is
# shipped (scripts/build-release.sh) and shows, with IPAM-role invocations (no netns, no network, no root needed):
# - the debug binary is killed (SIGKILL, status 137) at `add.ipam.after-record`, the release binary ignores the
#   variable and succeeds;
# - a DEL whose EC2 release cannot run (IMDS disabled) with ENI_MULTUS_MUTANT=del.skip-queue: the debug binary
#   forgets the ledger entry without queueing the release (the mutant), the release binary queues it as always.
# Exit 0 when all hold.
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
# Mutants: a ledger entry for c1:net1, then DEL with the node agent (so EC2) unreachable; count the queued releases.
confe='{"cniVersion":"1.1.0","name":"fpcheck","type":"macvlan","eni":{"id":"eni-0123456789abcdef0"},"ipam":{"type":"eni-multus","dataDir":"'$dir'/data","subnet":"10.55.0.0/24"}}'
queued_after_del() { # BINARY MUTANT
	rm -rf "$dir/data" && mkdir -p "$dir/data/fpcheck/ec2/ledger" || return 1
	printf 'eni=eni-0123456789abcdef0\nip=10.55.0.9\n' >"$dir/data/fpcheck/ec2/ledger/c1:net1"
	env -i CNI_COMMAND=DEL CNI_CONTAINERID=c1 CNI_NETNS=/proc/self/ns/net CNI_IFNAME=net1 CNI_PATH=/nonexistent \
		ENI_MULTUS_AGENT_SOCKET="$dir/no-agent.sock" ENI_MULTUS_MUTANT="$2" "$1" <<<"$confe" >/dev/null 2>&1 || return 1
	[ ! -e "$dir/data/fpcheck/ec2/ledger/c1:net1" ] || return 1
	find "$dir/data/fpcheck/ec2/queue" -type f 2>/dev/null | wc -l
}
q=$(queued_after_del "$debug" none); echo "debug   DEL, agent unreachable: $q release(s) queued (want 1)"
[ "$q" = 1 ] || fail=1
q=$(queued_after_del "$debug" del.skip-queue); echo "debug   DEL, agent unreachable, ENI_MULTUS_MUTANT=del.skip-queue: $q queued (want 0, the mutant)"
[ "$q" = 0 ] || fail=1
q=$(queued_after_del "$release" del.skip-queue); echo "release DEL, agent unreachable, ENI_MULTUS_MUTANT=del.skip-queue: $q queued (want 1, the variable is ignored)"
[ "$q" = 1 ] || fail=1
[ "$fail" = 0 ] && echo "release-failpoints: ok" || echo "release-failpoints: FAILED"
exit $fail
