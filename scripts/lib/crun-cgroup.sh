# Sourced by the scripts that run containers with Debian's crun (podman-e2e.sh, image-e2e.sh), inside a private
# mount namespace of their own.
#
# hide_hybrid_cgroup: a hybrid cgroup layout (v1 controllers plus a cgroup2 "unified" tree with a controller in
# it) is refused by Debian's crun 1.8 ("cgroups in hybrid mode not supported"): unmount the unified tree in this
# mount namespace only, so crun sees plain cgroup v1. Nothing to do on a pure v1 or v2 host.
hide_hybrid_cgroup() {
	if mountpoint -q /sys/fs/cgroup/unified && [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ]; then
		umount -l /sys/fs/cgroup/unified || return 1
	fi
}
