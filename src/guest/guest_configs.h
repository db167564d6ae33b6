#pragma once
// The config files of one guest type on this node in the ConfigStore, with PVE's locking rules:
// a change holds the store lock "vm-<vmid>" only while it reads, checks and writes (10 s, then
// PVE's "can't lock file" message); long operations set `lock: <name>` in the file instead.
// Used by the container service; the ids are cluster-wide across VMs and containers.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "guest/guest_config.h"

namespace pvx::cluster { class ConfigStore; }

namespace pvx::guest {

struct LoadedGuestConfig {
  GuestConfig config;
  std::string digest;        // SHA-1 of the text, as GET /config returns
  std::uint64_t version = 0;
};

class GuestConfigs {
 public:
  // `type_dir`: "qemu-server" or "lxc"; `lock_file`: the path PVE names in its lock timeout
  // message, with {} for the vmid ("/var/lock/lxc/pve-config-{}.lock").
  GuestConfigs(cluster::ConfigStore& store, std::string node, std::string type_dir, std::string lock_file);

  std::string path(std::int64_t vmid) const;
  std::optional<LoadedGuestConfig> load(std::int64_t vmid);
  // Error 500 "Configuration file '<path>' does not exist".
  LoadedGuestConfig load_or_throw(std::int64_t vmid);
  // Locked read-change-write; `change` returns whether to write. A non-empty `digest` must match.
  void update(std::int64_t vmid, const std::function<bool(GuestConfig&)>& change, const std::string& digest = {});
  // Error 500 "CT <vmid> already exists" / "VM ..." when any guest of the cluster has the id.
  void create(std::int64_t vmid, const GuestConfig& config);
  void remove(std::int64_t vmid);
  // Sets `lock: <name>` (refused when locked unless skiplock), runs fn, clears it (also on throw).
  void with_lock(std::int64_t vmid, const std::string& lock, const std::function<void()>& fn, bool skiplock = false);
  std::vector<std::int64_t> list_vmids();
  cluster::ConfigStore& store() { return store_; }

 private:
  cluster::ConfigStore& store_;
  std::string node_, type_dir_, lock_file_;
};

}  // namespace pvx::guest
