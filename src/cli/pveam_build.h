#pragma once
// `pveam build <storage> [--output FILE] [--name NAME] [--debootstrap --mirror URL [--suite S]]`:
// a container template made offline, so a fresh host can create its first container without
// the internet.
//   busybox (default): the host's busybox (Debian's busybox or busybox-static; a dynamically
//     linked one brings its ELF interpreter and libraries), busybox init with an rcS that sets
//     the hostname and configures the interfaces of /etc/network/interfaces as PVE writes them,
//     a shell on the console, and os-release ID=busybox, ID_LIKE=debian (so pvx sets it up as
//     Debian);
//   --debootstrap: a minbase Debian from the given mirror (debootstrap must be installed).
// The tarball goes into the storage's template cache (or to --output) and its volid is printed.
#include "cli/commands.h"

namespace pvx::cli {

int pveam_build(const Args& args, const GlobalOptions& global);

}  // namespace pvx::cli
