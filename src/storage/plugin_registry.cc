#include "storage/plugin_registry.h"

#include <algorithm>
#include <memory>

#include "base/error.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage {
namespace {

struct Registry {
  std::vector<std::unique_ptr<StoragePlugin>> owned;
  std::vector<const StoragePlugin*> sorted;

  Registry() {
    // Every storage type pvx knows: adding one is one line here and one file pair in plugins/.
    owned.push_back(plugins::make_dir());
    owned.push_back(plugins::make_btrfs());
    owned.push_back(plugins::make_nfs());
    owned.push_back(plugins::make_cifs());
    owned.push_back(plugins::make_cephfs());
    owned.push_back(plugins::make_glusterfs());
    owned.push_back(plugins::make_lvm());
    owned.push_back(plugins::make_lvmthin());
    owned.push_back(plugins::make_zfspool());
    owned.push_back(plugins::make_iscsi());
    owned.push_back(plugins::make_iscsidirect());
    owned.push_back(plugins::make_rbd());
    owned.push_back(plugins::make_pbs());
    for (const auto& p : owned) sorted.push_back(p.get());
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->info().type < b->info().type; });
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const StoragePlugin* find_plugin(std::string_view type) {
  for (const auto* p : registry().sorted) {
    if (p->info().type == type) return p;
  }
  return nullptr;
}

const StoragePlugin& plugin_for(std::string_view type) {
  if (const auto* p = find_plugin(type)) return *p;
  throw Error("unknown storage type '" + std::string(type) + "'", 400);
}

const std::vector<const StoragePlugin*>& all_plugins() { return registry().sorted; }

}  // namespace pvx::storage
