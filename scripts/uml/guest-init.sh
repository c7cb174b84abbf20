#!/bin/bash
# PID 1 inside the user-mode Linux kernel started by scripts/uml/run.sh.
# Not meant to be run by hand.
#
# The root file system is the host's / over hostfs (read-write), so every
# host path is visible here.  This script
#   - mounts proc, sysfs, devtmpfs (if the kernel did not), /dev/shm, /dev/pts,
#   - puts tmpfs on /run (netns bind mounts, locks) and on /var/lib/cni (the
#     reference IPAM store) so guest state never lands on the host,
#   - optionally puts tmpfs on /tmp (run.sh --private-tmp),
#   - loads ipv6, ipvlan, veth, dummy, macvlan, bridge, vrf from Debian's
#     UML modules, brings lo up,
#   - runs "$EMT_UML_WORK/cmd.sh" with the environment in env.sh, its
#     stdout/stderr in $EMT_UML_WORK/stdout and stderr, and records its exit
#     status in $EMT_UML_WORK/status,
#   - powers the UML kernel off, whatever happened.
# EMT_UML_WORK and EMT_UML_PRIVATE_TMP arrive from the kernel command line.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
W="${EMT_UML_WORK:?}"

log() { echo "emt-uml-init: $*" >&2; }

power_off() {
	sync
	echo o > /proc/sysrq-trigger
	sleep 30
}
trap power_off EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/lock /run/netns
mkdir -p /var/lib/cni && mount -t tmpfs -o mode=755 tmpfs /var/lib/cni
if [ "${EMT_UML_PRIVATE_TMP:-0}" = 1 ]; then
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mkdir -p "$W"   # only matters if the work dir was under /tmp (it is not)
fi
mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true

# Kernel modules: modprobe looks in DIR/lib/modules/$(uname -r); point a
# private tree (on tmpfs, never on the host) at Debian's UML modules, which
# ship their own modules.dep.
kver=$(uname -r)
moddir=/run/emt-modules
mkdir -p "$moddir/lib/modules"
ln -s "/usr/lib/uml/modules/$kver" "$moddir/lib/modules/$kver"
modprobe -a -d "$moddir" ipv6 ipvlan veth dummy macvlan bridge vrf tun ||
	log "modprobe failed; some link types may be missing"

ip link set lo up
hostname emt-uml 2>/dev/null || true

# The caller's command.  A fresh environment holding only what run.sh passed.
env -i /bin/bash -c '. "$1/env.sh" && exec /bin/bash "$1/cmd.sh"' emt-cmd "$W" \
	</dev/null >"$W/stdout" 2>"$W/stderr"
echo $? >"$W/status.tmp"
mv "$W/status.tmp" "$W/status"
