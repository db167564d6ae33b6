#pragma once
// A VM's RAM and device state saved to, and loaded from, a state volume (snapshots with
// `vmstate`, suspend to disk) on stock QEMU. PVE uses its own `savevm-start` and `-loadstate`
// patches; pvx uses QEMU's migration stream instead: the state volume is opened by pvxd and its
// file descriptor handed to QEMU over the QMP socket (SCM_RIGHTS + `getfd`), then
// `migrate fd:<name>` writes the stream, `migrate-incoming fd:<name>` reads it back. No shell,
// no path ever reaches QEMU's command line.
//
// Loading needs QEMU started with `-incoming defer` (cfg2cmd does so when Cfg2CmdInput has a
// vmstate_path). A stream saved from a paused VM loads into a paused VM: the caller sends `cont`.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace pvx::guest::qemu {

// How the state volume's path is opened: a file or a block device already allocated.
// Saves the state of the VM behind `qmp_socket` into `state_path` (written from offset 0; the
// rest of a larger preallocated volume is left as is). The VM should be paused (consistent with
// disk snapshots taken at the same point); after this QEMU is in "postmigrate" and its images
// are inactive until `cont`. Throws Error 500 with QEMU's migration error.
void save_vm_state(const std::filesystem::path& qmp_socket, std::int64_t vmid, const std::filesystem::path& state_path,
                   std::chrono::milliseconds timeout = std::chrono::minutes(30));

// Feeds `state_path` to a QEMU waiting with `-incoming defer` and waits until the incoming
// migration completed. Leaves the VM paused or running as the saved VM was.
void load_vm_state(const std::filesystem::path& qmp_socket, std::int64_t vmid, const std::filesystem::path& state_path,
                   std::chrono::milliseconds timeout = std::chrono::minutes(30));

// The size PVE allocates for a state volume: twice the memory plus 500 MiB of device state, KiB.
std::int64_t vm_state_size_kib(std::int64_t memory_mib);

}  // namespace pvx::guest::qemu
