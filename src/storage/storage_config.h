#pragma once
// storage.cfg parsed into StorageDefs (pure: text in, definitions out, and back), plus the
// default configuration a fresh node starts with.
#include <string>
#include <string_view>
#include <vector>

#include "config/section_config.h"
#include "storage/storage_plugin.h"

namespace pvx::storage {

struct StorageCfg {
  config::ParsedConfig sections;  // in file order
  std::vector<StorageDef> defs() const;  // host/secrets not filled in
  const config::Section* find(std::string_view id) const { return sections.find(id); }
};

StorageCfg parse_storage_cfg(std::string_view text);
std::string print_storage_cfg(const StorageCfg& cfg);

// "dir: local" at <data_dir>/storage/local with content iso,vztmpl,backup,images,rootdir,snippets.
std::string default_storage_cfg(const std::string& local_path);

StorageDef to_def(const config::Section& section);

}  // namespace pvx::storage
