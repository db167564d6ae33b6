#!/bin/bash
# Builds the small guest the VM integration tests boot under TCG: Debian's kernel (from the
# linux-image .deb, fetched with apt) and a gzip'd newc initramfs of Debian's busybox and qemu-ga
# plus the virtio/ata/scsi/cdrom/button modules, with tests/guest/rootfs laid over it.
#
#   tests/guest/build-test-guest.sh OUTDIR   ->  OUTDIR/vmlinuz, OUTDIR/initrd.img (paths printed)
#
# Nothing comes from outside Debian's apt. Needs: dpkg-deb, cpio, gzip, flock, and the host's
# busybox and qemu-guest-agent packages. PVX_TEST_KERNEL_DEB=/path/linux-image-*.deb skips apt;
# a kernel .deb already in OUTDIR/debs is reused unless PVX_TEST_KERNEL_REFRESH=1.
# Idempotent: a stamp of the inputs' hash in OUTDIR makes a second run a no-op.
set -euo pipefail

die() { echo "build-test-guest: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
overlay="$here/rootfs"
mkdir -p "$1"
out=$(cd "$1" && pwd)
debs="$out/debs"
mkdir -p "$debs"

busybox_bin=/bin/busybox
qga_bin=/usr/sbin/qemu-ga
for tool in dpkg-deb cpio gzip flock ldd sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[ -x "$busybox_bin" ] || die "$busybox_bin missing: apt-get install busybox"
[ -x "$qga_bin" ] || die "$qga_bin missing: apt-get install qemu-guest-agent"

# Modules the guest wants; whatever the kernel config builds in is skipped, dependencies are added.
wanted_modules=(
    virtio_pci virtio_console virtio_blk virtio_scsi virtio_net virtio_rng
    scsi_mod sd_mod sr_mod cdrom isofs
    ata_piix ahci sym53c8xx e1000
    button evdev
)
# Module arguments: scan SCSI buses synchronously so the cdrom exists once insmod returns.
declare -A module_args=([scsi_mod]="scan=sync")

# Parallel callers of the same OUTDIR wait for one build.
exec 9>"$out/.build.lock"
flock 9

print_paths() {
    echo "$out/vmlinuz"
    echo "$out/initrd.img"
    [ -f "$out/vmlinux" ] && echo "$out/vmlinux"
    return 0
}

# --- the kernel package ------------------------------------------------------------------------
newest_cached_deb() {
    local pattern=${1:-linux-image-*}
    ls -1t "$debs"/${pattern}_*.deb 2>/dev/null | head -n1 || true
}

if [ -n "${PVX_TEST_KERNEL_DEB:-}" ]; then
    [ -f "$PVX_TEST_KERNEL_DEB" ] || die "PVX_TEST_KERNEL_DEB=$PVX_TEST_KERNEL_DEB does not exist"
    kernel_deb=$PVX_TEST_KERNEL_DEB
elif [ -z "${PVX_TEST_KERNEL_REFRESH:-}" ] && [ -n "$(newest_cached_deb)" ]; then
    # A cached kernel is kept (offline, reproducible); PVX_TEST_KERNEL_REFRESH=1 asks apt again.
    kernel_deb=$(newest_cached_deb)
else
    # The metapackage names the current ABI package (linux-image-6.1.0-N-amd64 on Debian 12).
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1 || true)
    kernel_deb=
    if [ -n "$kernel_pkg" ]; then
        kernel_deb=$(newest_cached_deb "$kernel_pkg")
        if [ -z "$kernel_deb" ]; then
            echo "build-test-guest: downloading $kernel_pkg" >&2
            # apt warns when root downloads into a directory _apt cannot read; harmless.
            (cd "$debs" && apt-get download -q "$kernel_pkg" >&2) ||
                echo "build-test-guest: apt-get download $kernel_pkg failed" >&2
            kernel_deb=$(newest_cached_deb "$kernel_pkg")
        fi
    else
        echo "build-test-guest: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2
    fi
    if [ -z "$kernel_deb" ]; then
        kernel_deb=$(newest_cached_deb)
        [ -n "$kernel_deb" ] || die "no kernel package: run apt-get update or set PVX_TEST_KERNEL_DEB"
        echo "build-test-guest: using cached $(basename "$kernel_deb")" >&2
    fi
fi

# --- up to date? -------------------------------------------------------------------------------
stamp_of_inputs() {
    {
        sha256sum "$here/build-test-guest.sh"
        (cd "$overlay" && find . -type f -o -type l | LC_ALL=C sort | while read -r f; do
            if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else sha256sum "$f"; fi
            stat -c '%n %a' "$f"
        done)
        echo "$(basename "$kernel_deb") $(stat -c %s "$kernel_deb")"
        sha256sum "$busybox_bin" "$qga_bin"
    } | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of_inputs)
if [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ -f "$out/.stamp" ] &&
   [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    print_paths
    exit 0
fi

# --- build -------------------------------------------------------------------------------------
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
kx="$work/kernel"
root="$work/root"
mkdir -p "$kx" "$root"

dpkg-deb -x "$kernel_deb" "$kx"
kver=$(ls -1 "$kx/lib/modules" | head -n1)
[ -n "$kver" ] && [ -f "$kx/boot/vmlinuz-$kver" ] || die "$(basename "$kernel_deb") has no kernel"
moddir="$kx/lib/modules/$kver"

# The package leaves modules.dep to its postinst and depmod over the whole tree is slow, so the
# dependencies come from each module's own .modinfo "depends=" entry. Names treat '-' and '_' alike.
declare -A path_of
while IFS= read -r mod_path; do
    name=${mod_path##*/}; name=${name%%.ko*}
    path_of[${name//-/_}]=$mod_path
done < <(cd "$moddir" && find kernel -name '*.ko*')

builtin_names=" "
while IFS= read -r mod_path; do
    name=${mod_path##*/}; name=${name%%.ko*}; builtin_names+="${name//-/_} "
done <"$moddir/modules.builtin"

mkdir -p "$root/lib/modules"
: >"$root/lib/modules/load-order"
declare -A added
add_module() {  # dependencies first, each once
    local name=${1//-/_} mod_path dst dep
    [ -n "${added[$name]:-}" ] && return 0
    added[$name]=1
    mod_path=${path_of[$name]:-}
    if [ -z "$mod_path" ]; then
        [[ "$builtin_names" == *" $name "* ]] && return 0
        die "kernel $kver has no module $name"
    fi
    dst="$root/lib/modules/$(basename "${mod_path%%.ko*}").ko"
    # busybox insmod takes plain .ko only.
    case "$mod_path" in
        *.ko) cp "$moddir/$mod_path" "$dst" ;;
        *.ko.xz) xz -dc "$moddir/$mod_path" >"$dst" ;;
        *.ko.zst) zstd -qdc "$moddir/$mod_path" >"$dst" ;;
        *.ko.gz) gzip -dc "$moddir/$mod_path" >"$dst" ;;
        *) die "unknown module format $mod_path" ;;
    esac
    for dep in $(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '); do
        add_module "$dep"
    done
    echo "$(basename "$dst") ${module_args[$name]:-}" >>"$root/lib/modules/load-order"
}
for name in "${wanted_modules[@]}"; do add_module "$name"; done

# Binaries with the shared objects ldd names, at the same paths.
copy_with_libs() {
    local bin=$1 lib
    install -D -m 0755 "$bin" "$root$bin"
    for lib in $(ldd "$bin" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
        [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
}
copy_with_libs "$busybox_bin"
copy_with_libs "$qga_bin"

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,mnt,root,var/log,etc}
ln -s ../run "$root/var/run"
# /init links the other applets at boot (busybox --install -s keeps existing files).
ln -s busybox "$root/bin/sh"
# Overlay last; --remove-destination so a file never writes through an applet link.
cp -a --remove-destination "$overlay/." "$root/"

(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --quiet -o -H newc -R 0:0) | gzip -6 >"$work/initrd.img"
cp "$kx/boot/vmlinuz-$kver" "$work/vmlinuz"

# The bzImage's own xz decompressor runs inside the guest and costs several seconds under TCG.
# The ELF inside it (PVH entry note, CONFIG_PVH) is loaded by QEMU directly: same kernel, faster.
extract_vmlinux() {
    local magic off
    grep -q '^CONFIG_PVH=y' "$kx/boot/config-$kver" || return 1
    for magic in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -qdc' \
                 '\x1f\x8b\x08:gzip -dc'; do
        off=$(LC_ALL=C grep -obUaP "${magic%%:*}" "$work/vmlinuz" | head -n1 | cut -d: -f1 || true)
        [ -n "$off" ] || continue
        tail -c +$((off + 1)) "$work/vmlinuz" | ${magic#*:} >"$work/vmlinux" 2>/dev/null || true
        [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] && return 0
    done
    return 1
}
rm -f "$out/vmlinux"
if extract_vmlinux; then
    mv -f "$work/vmlinux" "$out/vmlinux"
else
    echo "build-test-guest: no ELF kernel inside the bzImage; only vmlinuz is built" >&2
fi
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
echo "$kver" >"$out/kernel-release"
echo "$stamp" >"$out/.stamp"
print_paths
