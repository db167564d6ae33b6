#pragma once
// The QEMU command line of a VM: a pure function of its config, the resolved volume paths and
// the host's facts, so it is tested with golden files (tests/golden/cfg2cmd/<name>.conf ->
// <name>.argv) and printed by `qm showcmd`. Nothing here touches the host.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "guest/guest_config.h"
#include "guest/qemu/vm_paths.h"

namespace pvx::guest::qemu {

struct HostFacts {
  bool kvm = true;                        // false: -accel tcg (no KVM, or `kvm: 0`)
  std::string qemu_binary = "/usr/bin/qemu-system-x86_64";
  std::string qemu_version = "7.2.0";     // major.minor.micro of the binary
  std::string ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
  std::string ovmf_code_secboot = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
  std::string ovmf_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";  // template for a new efidisk
  std::string ovmf_vars_ms = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
  int host_cpus = 2;
  // efidisk0 without efitype=4m: the 2 MiB firmware (PVE's "default" OVMF pair).
  std::string ovmf_code_2m = "/usr/share/OVMF/OVMF_CODE.fd";
  std::string ovmf_vars_2m = "/usr/share/OVMF/OVMF_VARS.fd";
  std::string boot_splash;                  // -boot splash=<file>, "" = none (the caller checks it exists)
  std::map<std::string, int> bridge_mtu;    // bridge -> MTU, for `mtu=1` of a VirtIO NIC (1500 if absent)
};

struct Cfg2CmdInput {
  std::int64_t vmid = 0;
  const ConfigSection* conf = nullptr;  // the main section (pending changes not applied)
  HostFacts host;
  std::filesystem::path run_dir;        // VmPaths(run_dir, vmid) gives the sockets
  // volume id (or path) as written in the config -> what QEMU opens (path or URI), and its format.
  std::map<std::string, std::string> volume_paths;
  std::map<std::string, std::string> volume_formats;
  // volume id -> type of its storage ("dir", "btrfs", "lvm", "cifs", "rbd" ...): PVE's cache and
  // aio defaults depend on it (no O_DIRECT on btrfs, no io_uring on lvm/cifs). Absent = "dir".
  std::map<std::string, std::string> volume_storage_types;
  std::string cloudinit_iso;            // the generated NoCloud ISO when a drive is a cloud-init drive
  std::string vmstate_path;             // resume from this saved state (-incoming defer, then QMP), "" = none
  bool paused = false;                  // -S: start paused (rollback, migration)
};

// Throws Error 500 with a clear message for configs that cannot run (unknown bus, a drive
// whose volume has no resolved path, hostpci on a host without the device is the caller's check).
std::vector<std::string> cfg2cmd(const Cfg2CmdInput& in);

// The host PCI functions a hostpciN value names, as "dddd:bb:dd.f"; Error 500 naming the key
// when one is malformed or none is given.
std::vector<std::string> hostpci_functions(const std::string& key, const std::string& value);

// The machine type QEMU gets for a config ("pc-i440fx-7.2", "pc-q35-7.2"), for `runningmachine`.
std::string machine_type(const ConfigSection& conf, const HostFacts& host);

}  // namespace pvx::guest::qemu
