#pragma once
// The storage layer as the API sees it: storage.cfg from the config store (parsed once per
// store version), secrets from priv/, plugins from the registry, and volume ids resolved to
// (storage, plugin, volname). Thread-safe; plugin calls made through it block, so API handlers
// call it from worker or task threads.
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/config_store.h"
#include "storage/storage_config.h"
#include "storage/storage_plugin.h"

namespace pvx::storage {

class StorageService {
 public:
  StorageService(cluster::ConfigStore& store, HostEnv host);

  const HostEnv& host() const { return host_; }
  cluster::ConfigStore& store() { return store_; }

  // Writes the default storage.cfg ("dir: local" under the data directory) when there is none.
  void initialize();

  struct Loaded {
    StorageCfg cfg;
    std::string digest;
    std::uint64_t version = 0;
  };
  std::shared_ptr<const Loaded> load();

  // Throws Error 500 "storage '<id>' does not exist" as PVE does (404-like in meaning).
  StorageDef get(const std::string& id);
  std::vector<StorageDef> all();
  // Whether the storage's `nodes` (if any) include this node.
  bool on_this_node(const StorageDef& def) const;

  // --- configuration changes, serialised by the storage.cfg file lock
  // Runs the plugin's on_add, stores secrets, writes the section. `secrets` are key -> value.
  void add(StorageDef def, const std::map<std::string, std::string>& secrets);
  // Sets `set` keys, deletes `remove` keys; checks `digest` when given.
  void update(const std::string& id, const Json& set, const std::vector<std::string>& remove,
              const std::map<std::string, std::string>& secrets, const std::string& digest);
  void remove(const std::string& id);

  // --- volumes
  struct Resolved {
    StorageDef def;
    const StoragePlugin* plugin = nullptr;
    std::string volname;
  };
  // "<storage>:<volname>": checks the storage exists and the plugin can parse the name (400
  // naming `param` otherwise).
  Resolved resolve(const std::string& volid, const std::string& param = "volume");
  const StoragePlugin& plugin(const StorageDef& def) const;
  // Activates the storage (mount, mkdir) unless it is disabled or not on this node; throws then.
  void activate(const StorageDef& def);

  // A per-storage lock for plugins without atomic naming (block devices): "storage-<id>".
  cluster::LockGuardPtr lock_storage(const std::string& id);

 private:
  StorageDef with_host(StorageDef def);
  std::map<std::string, std::string> read_secrets(const StorageDef& def);

  cluster::ConfigStore& store_;
  HostEnv host_;
  std::mutex mutex_;
  std::shared_ptr<const Loaded> cached_;
};

}  // namespace pvx::storage
