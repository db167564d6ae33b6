#!/usr/bin/env bash
# Runs one command line inside a user-mode Linux kernel (Debian's user-mode-linux package) and
# exits with the command's exit code. The guest's root is the host's / over hostfs, so the
# command sees the same files (build tree, /usr, /tmp); /proc, /sys, /run and /dev/shm are its own.
# Used for the network tests that need kernel features a CI/container kernel often lacks
# (bonding, 802.1Q VLAN devices, bridge VLAN filtering, dummy links, tc basic/police).
#
#   tests/uml/run-in-uml.sh COMMAND [ARG...]
#
# Environment: PVX_UML_KERNEL (default: linux.uml on PATH), PVX_UML_MEM (default 768M),
# PVX_UML_TIMEOUT seconds for the whole boot + run + poweroff (default 300).
# Exits 0 with "skipped: user-mode-linux not installed" when there is no linux.uml; any other
# problem (a module that will not load, no exit code recorded, timeout) is a failure.
set -euo pipefail

# Needed by the tests: missing or failing to load is an error.
required_modules=(bridge 8021q bonding dummy veth tun sch_htb sch_ingress sch_tbf cls_basic act_police)
# NAT pieces: loaded when the kernel has them. Debian's UML 6.1 has nf_tables but neither the
# ip/inet families nor nft_chain_nat, so "table ip ... type nat" cannot work there anyway.
optional_modules=(nf_tables nf_conntrack nf_nat nft_ct nft_masq nft_chain_nat nft_nat)
# No bond0/dummy0 in the initial namespace: nothing there that a test did not make.
declare -A module_params=([bonding]="max_bonds=0" [dummy]="numdummies=0")

die() { echo "run-in-uml: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: $0 COMMAND [ARG...]"

[[ -z "${PVX_UML_KERNEL:-}" || -x "$PVX_UML_KERNEL" ]] || die "PVX_UML_KERNEL=$PVX_UML_KERNEL is not an executable"
kernel=${PVX_UML_KERNEL:-$(command -v linux.uml || true)}
if [[ -z "$kernel" ]]; then
  echo "skipped: user-mode-linux not installed (no linux.uml)"
  exit 0
fi
mem=${PVX_UML_MEM:-768M}
limit=${PVX_UML_TIMEOUT:-300}

version=$("$kernel" --version 2>/dev/null | head -n1 | tr -d '[:space:]')
[[ -n "$version" ]] || die "cannot read the version of $kernel"
moddir=$(dirname "$(readlink -f "$kernel")")/../lib/uml/modules/$version
[[ -f "$moddir/modules.dep" ]] || moddir=/usr/lib/uml/modules/$version
[[ -f "$moddir/modules.dep" ]] || die "no modules.dep for UML $version (looked in $moddir)"
moddir=$(readlink -f "$moddir")
[[ -x /bin/busybox ]] || command -v insmod >/dev/null || die "neither busybox nor insmod to load modules with"

# --- module load order from modules.dep (dependencies first, each once) ---
declare -A dep_line=() queued=()
while IFS= read -r line; do
  name=${line%%.ko:*}
  name=${name##*/}
  dep_line[${name//-/_}]=$line
done <"$moddir/modules.dep"

load_order=()
add_module() {  # name, without .ko; '-' and '_' are the same to the kernel
  local key=${1//-/_} line dep name
  [[ -n "${queued[$key]:-}" ]] && return 0
  line=${dep_line[$key]:-}
  [[ -n "$line" ]] || return 1
  queued[$key]=1
  # modules.dep lists the whole closure; resolving each one keeps the order right whatever it is.
  for dep in ${line#*:}; do
    name=${dep##*/}
    add_module "${name%.ko}" || die "modules.dep names $dep but has no line for it"
  done
  load_order+=("$moddir/${line%%:*}")
}
builtin_has() { grep -q "/${1//_/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null; }

for m in "${required_modules[@]}"; do
  add_module "$m" || builtin_has "$m" || die "UML $version has no module $m"
done
absent=()
for m in "${optional_modules[@]}"; do
  add_module "$m" || builtin_has "$m" || absent+=("$m")
done
((${#absent[@]} == 0)) || echo "run-in-uml: UML $version lacks ${absent[*]} (NAT in nf_tables will not work there)" >&2

# --- the guest's init: everything it writes goes to $work, which it sees through hostfs ---
work=$(mktemp -d "${TMPDIR:-/tmp}/pvx-uml.XXXXXX")
timeout_pid=
cleanup() {
  # Interrupted: timeout passes the TERM on to UML and KILLs it 10 s later if need be.
  if [[ -n "$timeout_pid" ]] && kill -TERM "$timeout_pid" 2>/dev/null; then
    wait "$timeout_pid" 2>/dev/null || true
  fi
  # UML makes itself a session leader and writes its pid to uml_dir/umid/pid; nothing of that
  # session may outlive the script (its host-side helper processes included).
  local main
  main=$(cat "$work/pvx/pid" 2>/dev/null || true)
  [[ ! "$main" =~ ^[0-9]+$ ]] || pkill -KILL -s "$main" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

insmod_cmd=insmod
[[ -x /bin/busybox ]] && insmod_cmd="/bin/busybox insmod"
{
  echo '#!/bin/bash'
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8'
  echo "work=$(printf '%q' "$work")"
  cat <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
fail=0
EOF
  for ko in "${load_order[@]}"; do
    name=${ko##*/}
    name=${name%.ko}
    printf '%s %q %s >>"$work/modules.log" 2>&1 || { echo "insmod %s failed" >>"$work/modules.log"; fail=1; }\n' \
      "$insmod_cmd" "$ko" "${module_params[${name//-/_}]:-}" "$name"
  done
  echo 'ip link set lo up'
  printf 'cd %q\n' "$PWD"
  printf 'if [ "$fail" = 0 ]; then\n  %s >"$work/out" 2>&1 </dev/null\n  echo $? >"$work/rc"\nfi\n' \
    "$(printf '%q ' "$@")"
  cat <<'EOF'
sync
/bin/busybox poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
sleep 10
EOF
} >"$work/init"
chmod 755 "$work/init"

# UML backs the guest's memory with a file in $TMPDIR, else in /dev/shm when that is a tmpfs,
# and maps it executable. A container's /dev/shm is often 64M and noexec: the guest would
# refuse to start or die of SIGBUS once it outgrew it, so /tmp it is then.
uml_env=()
if [[ -z "${TMPDIR:-}" ]]; then
  shm_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  shm_opts=$(awk '$2 == "/dev/shm" { o = $4 } END { print o }' /proc/self/mounts)
  mem_kb=$(($(numfmt --from=iec "$mem") / 1024))
  if ((${shm_kb:-0} < mem_kb)) || [[ ",$shm_opts," == *,noexec,* ]]; then uml_env=(TMPDIR=/tmp); fi
fi

# uml_dir keeps the mconsole socket and pid file in $work.
started=$SECONDS
set +e
env "${uml_env[@]}" timeout --kill-after=10 "$limit" \
  "$kernel" mem="$mem" rootfstype=hostfs rootflags=/ rw init="$work/init" \
  uml_dir="$work" umid=pvx con0=null,fd:1 con=null ssl=null \
  </dev/null >"$work/console" 2>&1 &
timeout_pid=$!
wait "$timeout_pid"
uml_status=$?
timeout_pid=
set -e
elapsed=$((SECONDS - started))

if grep -q failed "$work/modules.log" 2>/dev/null; then
  echo "run-in-uml: loading modules failed:" >&2
  cat "$work/modules.log" >&2
fi
[[ -f "$work/out" ]] && cat "$work/out"

if [[ ! -s "$work/rc" ]]; then
  if ((uml_status == 124 || uml_status == 137)); then
    echo "run-in-uml: timed out after ${limit}s" >&2
  else
    echo "run-in-uml: no exit code recorded (linux.uml exited with $uml_status)" >&2
  fi
  echo "run-in-uml: last lines of the UML console:" >&2
  tail -n 40 "$work/console" >&2
  exit 1
fi
rc=$(<"$work/rc")
echo "run-in-uml: exit $rc after ${elapsed}s in UML $version (boot + run)" >&2
exit "$rc"
