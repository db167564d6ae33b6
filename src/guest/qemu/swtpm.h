#pragma once
// The software TPM of a VM with `tpmstate0`, as qemu-server runs it: swtpm_setup initializes a
// fresh state once (an existing state is left alone), then `swtpm socket --daemon` serves QEMU's
// tpm-tis/tpm-crb device over the control socket VmPaths::swtpm(), keeping the state in the raw
// volume (backend-uri=file://). It terminates by itself when QEMU disconnects (--terminate).
// Being daemonized, swtpm is re-parented to pvxd (the child subreaper), which reaps it.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "guest/qemu/vm_paths.h"

namespace pvx::guest::qemu {

struct SwtpmStart {
  std::string state_path;         // the tpmstate volume's file or block device
  std::string version = "v2.0";   // tpmstate0's version=: v1.2 | v2.0
  bool initialize = true;         // run swtpm_setup first (not for an incoming migration)
  std::filesystem::path log_file; // swtpm's own log; "" = <run dir>/qemu-server/<vmid>-swtpm.log
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // until the pid file and socket appear
};

// Creates the TPM state when the file holds none (swtpm_setup --not-overwrite, with EK and
// platform certificates, as PVE). Throws Error 500 "swtpm_setup failed: ...".
void swtpm_setup_state(const std::string& state_path, const std::string& version);

// Starts swtpm for the VM and returns its pid once the pid file and control socket exist.
// Throws Error 500 "failed to start swtpm: ..."; nothing is left running then.
int start_swtpm(const VmPaths& paths, const SwtpmStart& options);

// The VM's running swtpm (pid file + /proc cmdline naming its control socket), or nullopt.
std::optional<int> find_swtpm_process(const VmPaths& paths);

// Stops the VM's swtpm (SIGTERM, SIGKILL after `timeout`) and removes its pid file and socket.
// No-op when none runs.
void stop_swtpm(const VmPaths& paths, std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace pvx::guest::qemu
