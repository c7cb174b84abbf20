#!/bin/bash
# Installs what the project's commands need on a Debian 12 machine, and says what it installs:
#
#   bash scripts/setup.sh [build|demo|test|image|all]...     (default: test)
#
#   build  compiling the package: libmnl-dev (netlink), pkg-config, libcurl/libssl headers (CAWSShims), gcc, libc6-dev,
#          libstdc++-12-dev (the release link), binutils
#   demo   build + what scripts/demo.sh runs: user-mode-linux and kmod (ipvlan), iproute2, jq,
#          containernetworking-plugins, curl, python3 with moto[server] (the EC2 emulator)
#   test   demo + what scripts/test.sh runs: tcpdump, strace (the fsync policy's check), procps, podman, crun, conmon, busybox-static (the libcni
#          tier), cfn-lint and PyYAML (install/ checks), kubectl (kubernetes-client, when none is installed)
#   image  build + what scripts/build-image.sh, scripts/image-e2e.sh and scripts/check-binary.sh run: podman, crun,
#          conmon, mmdebstrap
#   all    every one of them (.ci/run)
#
# Only what is missing is installed (apt-get update runs only then), so it costs nothing once the machine is set
# up; scripts/demo.sh and scripts/test.sh call it first. Without root, it names what is missing and exits 1.
# The Swift toolchain (6.x, in /opt/swift or on PATH) cannot be installed from Debian's packages: when it is
# missing this says so and exits 1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PATH="/opt/swift/usr/bin:$PATH"

build_pkgs=(libmnl-dev pkg-config libcurl4-openssl-dev libssl-dev ca-certificates gcc libc6-dev libstdc++-12-dev binutils)
demo_pkgs=(user-mode-linux kmod iproute2 jq containernetworking-plugins curl procps python3)
test_pkgs=(tcpdump strace podman crun conmon busybox-static)
image_pkgs=(podman crun conmon mmdebstrap)
moto_req='moto[server]==5.2.1'
cfnlint_req='cfn-lint==1.51.0'

want=() py=()
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(test)
for p in "${profiles[@]}"; do
	case "$p" in
	build) want+=("${build_pkgs[@]}") ;;
	demo) want+=("${build_pkgs[@]}" "${demo_pkgs[@]}"); py+=(moto) ;;
	test) want+=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${test_pkgs[@]}"); py+=(moto cfnlint) ;;
	image) want+=("${build_pkgs[@]}" "${image_pkgs[@]}") ;;
	all) want+=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${test_pkgs[@]}" "${image_pkgs[@]}"); py+=(moto cfnlint) ;;
	*) echo "setup.sh: unknown profile $p (build, demo, test, image, all)" >&2; exit 2 ;;
	esac
done

if ! swift --version >/dev/null 2>&1; then
	echo "setup.sh: the Swift toolchain is missing: install Swift 6.x for Debian 12 in /opt/swift (swift.org's tarball)" >&2
	exit 1
fi

# kubectl (with its kustomize) renders install/ in the tests; Debian's kubernetes-client has one when the machine has none.
for p in "${profiles[@]}"; do
	case "$p" in test|all) command -v kubectl >/dev/null || want+=(kubernetes-client) ;; esac
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup.sh: missing Debian packages (as root: apt-get install ${missing[*]}):" >&2
		printf '  %s\n' "${missing[@]}" >&2
		exit 1
	fi
	echo "setup.sh: installing from Debian: ${missing[*]}" >&2
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

pip_install() { # REQUIREMENT
	echo "setup.sh: installing from PyPI: $1" >&2
	if ! python3 -m pip --version >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] || { echo "setup.sh: pip is missing (as root: apt-get install python3-pip)" >&2; exit 1; }
		apt-get install -y -q --no-install-recommends python3-pip >&2
	fi
	python3 -m pip install -q --break-system-packages "$1" >&2 2>/dev/null || python3 -m pip install -q "$1" >&2
}
for p in $(printf '%s\n' "${py[@]}" | sort -u); do
	case "$p" in
	moto) python3 -c 'import moto, boto3, flask' 2>/dev/null || pip_install "$moto_req" ;;
	cfnlint) { command -v cfn-lint >/dev/null && python3 -c 'import yaml' 2>/dev/null; } || pip_install "$cfnlint_req" ;;
	esac
done
echo "setup.sh: ready for ${profiles[*]}" >&2
