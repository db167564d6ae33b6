#include "api/handlers/vmid_range.h"

#include "cluster/config_store.h"
#include "config/datacenter_cfg.h"

namespace pvx::api::handlers {

VmidRange vmid_range(cluster::ConfigStore& store) {
  VmidRange range;
  auto entry = store.read("datacenter.cfg");
  if (!entry) return range;
  auto values = config::parse_datacenter_cfg(entry->data).config.values;
  auto it = values.find("next-id");
  if (it != values.end() && it->is_object()) {
    if (it->contains("lower")) range.lower = (*it)["lower"].get<std::int64_t>();
    if (it->contains("upper")) range.upper = (*it)["upper"].get<std::int64_t>();
  }
  return range;
}

}  // namespace pvx::api::handlers
