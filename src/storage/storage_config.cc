#include "storage/storage_config.h"

#include "storage/storage_properties.h"

namespace pvx::storage {

StorageDef to_def(const config::Section& section) {
  StorageDef d;
  d.id = section.id;
  d.type = section.type;
  d.props = section.values;
  return d;
}

std::vector<StorageDef> StorageCfg::defs() const {
  std::vector<StorageDef> out;
  out.reserve(sections.sections.size());
  for (const auto& s : sections.sections) out.push_back(to_def(s));
  return out;
}

StorageCfg parse_storage_cfg(std::string_view text) {
  return StorageCfg{storage_section_config().parse(text, "storage.cfg")};
}

std::string print_storage_cfg(const StorageCfg& cfg) { return storage_section_config().print(cfg.sections); }

std::string default_storage_cfg(const std::string& local_path) {
  return "dir: local\n\tpath " + local_path + "\n\tcontent iso,vztmpl,backup,images,rootdir,snippets\n\n";
}

}  // namespace pvx::storage
