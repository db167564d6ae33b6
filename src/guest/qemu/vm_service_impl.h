#pragma once
// VmService's private state and the helpers its files (vm_service*.cc) share: the per-VM store
// lock with PVE's message, raw config writes for code that already holds the lock, the config
// cache of listings, exit watchers and the CPU samples of the status figures.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/config_store.h"
#include "guest/qemu/vm_service.h"

namespace pvx::guest::qemu {

struct VmService::Impl {
  std::mutex mutex;

  // Parsed configs of this node by vmid, with the store version they were parsed at; the whole
  // map is valid for `scanned_revision` (listings skip every read while the store is unchanged).
  std::map<std::int64_t, std::shared_ptr<const LoadedConfig>> configs;
  std::uint64_t scanned_revision = 0;
  bool scanned = false;

  // VMs paused by pvx (suspend) and not resumed: the listing's qmpstatus without asking QMP.
  std::set<std::int64_t> paused;
  // Last CPU sample per VM (pid, cpu seconds, wall time): `cpu` is the share since the last one.
  struct CpuSample {
    int pid = 0;
    double cpu_seconds = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::int64_t, CpuSample> cpu_samples;
};

// The VM's store lock "vm-<vmid>", waiting up to 10 s; on timeout PVE's words:
// "can't lock file '/var/lock/qemu-server/lock-<vmid>.conf' - got timeout".
cluster::LockGuardPtr lock_vm(cluster::ConfigStore& store, std::int64_t vmid,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Writes a config read at `version` (compare-and-swap); a file changed meanwhile (by a writer
// that did not take the VM lock) is an error, never a silently lost update.
void write_if_unchanged(cluster::ConfigStore& store, const std::string& path, const std::string& text,
                        std::uint64_t version);

}  // namespace pvx::guest::qemu
