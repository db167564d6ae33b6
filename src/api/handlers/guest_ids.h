#pragma once
// Which VMIDs are in use: every guest config in the store (qemu-server and lxc, on any node).
// The guest work will own this; the core needs it for /cluster/nextid.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::cluster { class ConfigStore; }

namespace pvx::api::handlers {

struct GuestRef {
  std::string node;
  std::string type;  // "qemu" or "lxc"
};
std::map<std::int64_t, GuestRef> guest_ids(cluster::ConfigStore& store);

// VMIDs of guests with a configuration line (any section: snapshots and pending too) for which
// `uses(key, value)` holds. One scan of the guest configs serves storages, volumes and bridges.
std::vector<std::int64_t> guests_where(cluster::ConfigStore& store,
                                       const std::function<bool(std::string_view key, std::string_view value)>& uses);

}  // namespace pvx::api::handlers
