#!/usr/bin/env bash
# Installs the Debian 12 packages pvx needs to build, run and test.
# Runtime tools: qemu-utils (qemu-img for disk images), qemu-system-x86 + ovmf (VMs, UEFI),
# swtpm (virtual TPMs), genisoimage (cloud-init images), btrfs-progs (the btrfs storage),
# dnsmasq-base (DHCP/DNS on pvx's NAT bridges; the binary only, no system service), nftables and
# lxc (liblxc's tools and its common container configs under /usr/share/lxc/config).
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev nlohmann-json3-dev libssl-dev libsqlite3-dev
  libpam0g-dev libcrypt-dev zlib1g-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libnl-3-dev libnl-route-3-dev libnftables-dev lxc-dev libarchive-dev libcbor-dev libldap-dev
)
run_pkgs=( qemu-utils qemu-system-x86 ovmf swtpm swtpm-tools genisoimage btrfs-progs dnsmasq-base nftables iproute2 lxc )
# lvm2, tgt and libiscsi-bin: the storage tests drive real LVM metadata and a real iSCSI target;
# busybox: udhcpc, the DHCP client of the network tests' namespaces;
# ansible: its community.general proxmox modules are one of the real clients under test;
# user-mode-linux: a full kernel as a process, for the network tests a CI kernel lacks features for;
# qemu-guest-agent and cpio: the test guest's initramfs (tests/guest) carries Debian's qemu-ga.
test_pkgs=( python3 python3-proxmoxer python3-requests curl openssl procps lvm2 tgt libiscsi-bin ansible busybox user-mode-linux qemu-guest-agent cpio python3-websocket python3-cryptography slapd ldap-utils )
bench_pkgs=( wrk nginx-light )

want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}")
[[ "${1:-}" == "--bench" ]] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node + npm run the npm `proxmox-api` client in the tests; a host that has them from elsewhere
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package) keeps its own.
if [[ "${1:-}" != "--bench" ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  for p in nodejs npm; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
[[ ${#missing[@]} -eq 0 ]] && { echo "deps: all ${#want[@]} packages present"; exit 0; }

echo "deps: installing ${missing[*]}"
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
