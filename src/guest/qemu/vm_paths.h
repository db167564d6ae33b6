#pragma once
// Where a VM's runtime files live: <run_dir>/qemu-server/<vmid>.{pid,qmp,qga,vnc,serial0,...}.
// pvxd's run directory (DATA/run by default) survives a daemon restart, so a new pvxd finds the
// sockets of VMs an earlier one started.
#include <cstdint>
#include <filesystem>
#include <string>

namespace pvx::guest::qemu {

struct VmPaths {
  std::filesystem::path dir;  // <run_dir>/qemu-server
  std::int64_t vmid = 0;

  VmPaths(std::filesystem::path run_dir, std::int64_t id) : dir(std::move(run_dir) / "qemu-server"), vmid(id) {}
  std::filesystem::path file(const std::string& suffix) const { return dir / (std::to_string(vmid) + suffix); }

  std::filesystem::path pid() const { return file(".pid"); }
  std::filesystem::path qmp() const { return file(".qmp"); }          // QMP monitor (unix socket)
  std::filesystem::path qga() const { return file(".qga"); }          // guest agent chardev
  std::filesystem::path vnc() const { return file(".vnc"); }          // VNC server (unix socket)
  std::filesystem::path serial(int n) const { return file(".serial" + std::to_string(n)); }  // serialN: socket
  std::filesystem::path swtpm() const { return file(".swtpm"); }      // swtpm control socket
  std::filesystem::path swtpm_pid() const { return file(".swtpm.pid"); }
  std::filesystem::path cloudinit_iso() const { return file(".cloudinit.iso"); }  // when no storage holds it
};

}  // namespace pvx::guest::qemu
