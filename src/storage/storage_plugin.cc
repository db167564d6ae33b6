#include "storage/storage_plugin.h"

#include "base/error.h"
#include "storage/plugin_registry.h"

namespace pvx::storage {

ContentSet StorageDef::content() const {
  auto it = props.find("content");
  if (it != props.end() && it->is_string()) return parse_content_list(it->get<std::string>());
  // Not configured: the type's default, as PVE does.
  if (const auto* p = find_plugin(type)) return p->info().default_content;
  return {};
}

bool StorageDef::shared() const { return flag("shared"); }
bool StorageDef::disabled() const { return flag("disable"); }

std::string StorageDef::str(const std::string& key, const std::string& fallback) const {
  auto it = props.find(key);
  if (it == props.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::int64_t StorageDef::integer(const std::string& key, std::int64_t fallback) const {
  auto it = props.find(key);
  if (it == props.end()) return fallback;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}

bool StorageDef::flag(const std::string& key, bool fallback) const {
  auto it = props.find(key);
  if (it == props.end()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number()) return it->get<double>() != 0;
  if (it->is_string()) {
    auto s = it->get<std::string>();
    return s == "1" || s == "yes" || s == "on" || s == "true";
  }
  return fallback;
}

void unsupported(const StorageDef& def, std::string_view what) {
  throw Error("storage '" + def.id + "' (type " + def.type + ") does not support " + std::string(what), 400);
}

void StoragePlugin::on_add(StorageDef&) const {}
void StoragePlugin::on_update(const StorageDef&, StorageDef&) const {}
void StoragePlugin::on_delete(const StorageDef&) const {}
void StoragePlugin::deactivate(const StorageDef&) const {}

std::optional<std::filesystem::path> StoragePlugin::content_dir(const StorageDef&, std::string_view) const {
  return std::nullopt;
}

std::string StoragePlugin::create_base(const StorageDef& def, std::string_view) const {
  unsupported(def, "templates (create base)");
}
std::string StoragePlugin::clone_image(const StorageDef& def, std::string_view, std::int64_t, std::string_view) const {
  unsupported(def, "linked clones");
}
std::string StoragePlugin::copy_image(const StorageDef& def, std::string_view, std::int64_t, const std::string&) const {
  unsupported(def, "copying volumes");
}
void StoragePlugin::volume_resize(const StorageDef& def, std::string_view, std::int64_t) const {
  unsupported(def, "resizing volumes");
}
bool StoragePlugin::has_feature(const StorageDef&, Feature, std::string_view, std::string_view) const { return false; }
void StoragePlugin::snapshot_create(const StorageDef& def, std::string_view, std::string_view) const {
  unsupported(def, "snapshots");
}
void StoragePlugin::snapshot_rollback(const StorageDef& def, std::string_view, std::string_view) const {
  unsupported(def, "snapshots");
}
void StoragePlugin::snapshot_delete(const StorageDef& def, std::string_view, std::string_view) const {
  unsupported(def, "snapshots");
}
void StoragePlugin::activate_volume(const StorageDef&, std::string_view) const {}
void StoragePlugin::deactivate_volume(const StorageDef&, std::string_view) const {}
std::vector<std::string> StoragePlugin::export_formats(const StorageDef&, std::string_view) const { return {}; }
void StoragePlugin::volume_export(const StorageDef& def, std::string_view, const std::string&, int,
                                  const TransferOptions&) const {
  unsupported(def, "volume export");
}
std::string StoragePlugin::volume_import(const StorageDef& def, std::string_view, const std::string&, int,
                                         const TransferOptions&) const {
  unsupported(def, "volume import");
}
std::string StoragePlugin::get_notes(const StorageDef&, std::string_view) const { return {}; }
void StoragePlugin::set_notes(const StorageDef& def, std::string_view, const std::string&) const {
  unsupported(def, "notes");
}
bool StoragePlugin::get_protected(const StorageDef&, std::string_view) const { return false; }
void StoragePlugin::set_protected(const StorageDef& def, std::string_view, bool) const {
  unsupported(def, "protection");
}

}  // namespace pvx::storage
