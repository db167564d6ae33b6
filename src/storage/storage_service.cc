#include "storage/storage_service.h"

#include <algorithm>

#include "base/error.h"
#include "base/strings.h"
#include "schema/formats.h"
#include "storage/plugin_registry.h"
#include "storage/storage_properties.h"
#include "storage/volume_id.h"

namespace pvx::storage {
namespace {

constexpr const char* kStorageCfg = "storage.cfg";
constexpr auto kStorageLockTimeout = std::chrono::seconds(60);

[[noreturn]] void no_such_storage(const std::string& id) {
  throw Error("storage '" + id + "' does not exist", 500);
}

}  // namespace

StorageService::StorageService(cluster::ConfigStore& store, HostEnv host) : store_(store), host_(std::move(host)) {}

void StorageService::initialize() {
  if (store_.read(kStorageCfg)) return;
  store_.write(kStorageCfg, default_storage_cfg((host_.data_dir / "storage" / "local").string()), 0);
  try {
    activate(get("local"));
  } catch (const Error&) {
    // A local directory that cannot be created is reported when it is used.
  }
}

std::shared_ptr<const StorageService::Loaded> StorageService::load() {
  auto entry = store_.read(kStorageCfg);
  std::uint64_t version = entry ? entry->version : 0;
  std::lock_guard lock(mutex_);
  if (cached_ && cached_->version == version && version != 0) return cached_;
  auto loaded = std::make_shared<Loaded>();
  loaded->version = version;
  if (entry) {
    loaded->cfg = parse_storage_cfg(entry->data);
    loaded->digest = entry->digest();
  } else {
    loaded->digest = cluster::FileEntry{}.digest();
  }
  cached_ = loaded;
  return loaded;
}

std::map<std::string, std::string> StorageService::read_secrets(const StorageDef& def) {
  std::map<std::string, std::string> out;
  const auto* plugin = find_plugin(def.type);
  if (!plugin) return out;
  for (const auto& key : plugin->info().sensitive) {
    if (auto f = store_.read(secret_file(def.id, key))) out[key] = std::string(trim(f->data));
  }
  return out;
}

StorageDef StorageService::with_host(StorageDef def) {
  def.host = &host_;
  def.secrets = read_secrets(def);
  return def;
}

StorageDef StorageService::get(const std::string& id) {
  auto loaded = load();
  const auto* section = loaded->cfg.find(id);
  if (!section) no_such_storage(id);
  return with_host(to_def(*section));
}

std::vector<StorageDef> StorageService::all() {
  auto loaded = load();
  std::vector<StorageDef> out;
  for (auto& d : loaded->cfg.defs()) {
    d.host = &host_;
    out.push_back(std::move(d));  // secrets are read on demand through get()
  }
  return out;
}

bool StorageService::on_this_node(const StorageDef& def) const {
  auto nodes = def.str("nodes");
  if (nodes.empty()) return true;
  for (const auto& n : schema::split_list(nodes)) {
    if (n == host_.node) return true;
  }
  return false;
}

const StoragePlugin& StorageService::plugin(const StorageDef& def) const { return plugin_for(def.type); }

void StorageService::activate(const StorageDef& def) {
  if (def.disabled()) throw Error("storage '" + def.id + "' is disabled", 400);
  if (!on_this_node(def)) throw Error("storage '" + def.id + "' is not available on node '" + host_.node + "'", 400);
  plugin(def).activate(def);
}

cluster::LockGuardPtr StorageService::lock_storage(const std::string& id) {
  return store_.lock("storage-" + id, kStorageLockTimeout);
}

StorageService::Resolved StorageService::resolve(const std::string& volid, const std::string& param) {
  auto id = VolumeId::parse(volid, param);
  Resolved r;
  r.def = get(id.storage);
  r.plugin = &plugin(r.def);
  r.plugin->parse_volname(r.def, id.volname);  // throws 400 for names outside the layout
  r.volname = id.volname;
  return r;
}

void StorageService::add(StorageDef def, const std::map<std::string, std::string>& secrets) {
  const auto& p = plugin_for(def.type);
  def.host = &host_;
  def.secrets = secrets;
  p.on_add(def);  // may fill in defaults (the mount point of network storage)
  Error::ParamErrors missing;
  for (const auto& [name, mode] : p.info().options) {
    bool required = mode == PluginInfo::Option::Required || mode == PluginInfo::Option::FixedRequired;
    if (required && !def.props.contains(name) && !secrets.count(name)) missing[name] = "property is missing and it is not optional";
  }
  if (!missing.empty()) throw Error::params(std::move(missing));
  config::Section section{def.type, def.id, def.props};
  storage_section_config().validate_section(section);
  cluster::update_file(store_, kStorageCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    auto cfg = parse_storage_cfg(cur ? cur->data : "");
    if (cfg.find(def.id)) throw Error("storage ID '" + def.id + "' already defined", 400);
    cfg.sections.sections.push_back(section);
    return print_storage_cfg(cfg);
  });
  for (const auto& [key, value] : secrets) store_.write(secret_file(def.id, key), value + "\n");
}

void StorageService::update(const std::string& id, const Json& set, const std::vector<std::string>& remove,
                            const std::map<std::string, std::string>& secrets, const std::string& digest) {
  cluster::update_file(store_, kStorageCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    if (!digest.empty() && (!cur || cur->digest() != digest)) {
      throw Error("detected modified configuration - file changed by other user? Try again.", 400);
    }
    auto cfg = parse_storage_cfg(cur ? cur->data : "");
    auto* section = cfg.sections.find(id);
    if (!section) no_such_storage(id);
    const auto& p = plugin_for(section->type);
    StorageDef before = with_host(to_def(*section));
    Error::ParamErrors errors;
    auto mode_of = [&](const std::string& key) -> std::optional<PluginInfo::Option> {
      for (const auto& [name, mode] : p.info().options) {
        if (name == key) return mode;
      }
      return std::nullopt;
    };
    for (auto it = set.begin(); it != set.end(); ++it) {
      auto mode = mode_of(it.key());
      if (!mode) errors[it.key()] = "unexpected property";
      else if (*mode == PluginInfo::Option::Fixed || *mode == PluginInfo::Option::FixedRequired)
        errors[it.key()] = "can't change value of fixed parameter '" + it.key() + "'";
      else section->values[it.key()] = it.value();
    }
    for (const auto& key : remove) {
      auto mode = mode_of(key);
      if (!mode) {
        errors[key] = "unexpected property";
      } else if (*mode != PluginInfo::Option::Optional) {
        errors[key] = "can't delete required or fixed option '" + key + "'";
      } else if (set.contains(key)) {
        errors[key] = "cannot set and delete property '" + key + "' at the same time";
      } else {
        section->values.erase(key);
      }
    }
    for (const auto& [key, value] : secrets) {
      if (!mode_of(key)) errors[key] = "unexpected property";
    }
    if (!errors.empty()) throw Error::params(std::move(errors));
    StorageDef after = with_host(to_def(*section));
    p.on_update(before, after);
    section->values = after.props;
    storage_section_config().validate_section(*section);
    return print_storage_cfg(cfg);
  });
  for (const auto& [key, value] : secrets) store_.write(secret_file(id, key), value + "\n");
  for (const auto& key : remove) {
    if (auto f = secret_file(id, key); !f.empty()) store_.remove(f);
  }
}

void StorageService::remove(const std::string& id) {
  StorageDef def = get(id);
  cluster::update_file(store_, kStorageCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    auto cfg = parse_storage_cfg(cur ? cur->data : "");
    auto& list = cfg.sections.sections;
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& s) { return s.id == id; });
    if (it == list.end()) no_such_storage(id);
    list.erase(it);
    return print_storage_cfg(cfg);
  });
  const auto& p = plugin_for(def.type);
  try {
    p.on_delete(def);
  } catch (const Error&) {
    // The section is gone; a failed cleanup (unmount) must not bring it back.
  }
  for (const auto& key : p.info().sensitive) store_.remove(secret_file(id, key));
}

}  // namespace pvx::storage
