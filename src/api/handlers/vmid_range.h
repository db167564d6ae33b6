#pragma once
// The range /cluster/nextid picks from: datacenter.cfg's next-id (lower, upper), default
// [100, 1000000).
#include <cstdint>

namespace pvx::cluster { class ConfigStore; }

namespace pvx::api::handlers {

struct VmidRange {
  std::int64_t lower = 100;
  std::int64_t upper = 1000000;
};
VmidRange vmid_range(cluster::ConfigStore& store);

}  // namespace pvx::api::handlers
