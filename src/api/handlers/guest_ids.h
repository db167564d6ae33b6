#pragma once
// Which VMIDs are in use: every guest config in the store (qemu-server and lxc, on any node).
// The guest work will own this; the core needs it for /cluster/nextid.
#include <cstdint>
#include <map>
#include <string>

namespace pvx::cluster { class ConfigStore; }

namespace pvx::api::handlers {

struct GuestRef {
  std::string node;
  std::string type;  // "qemu" or "lxc"
};
std::map<std::int64_t, GuestRef> guest_ids(cluster::ConfigStore& store);

}  // namespace pvx::api::handlers
