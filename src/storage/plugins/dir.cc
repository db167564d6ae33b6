// `dir`: a local directory. Everything is FileStorage; only the declaration is its own.
#include "storage/file_storage.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage::plugins {
namespace {

class DirPlugin final : public FileStorage {
 public:
  DirPlugin() {
    using O = PluginInfo::Option;
    info_.type = "dir";
    info_.content = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"};
    info_.default_content = {"images", "rootdir"};
    info_.formats = {"raw", "qcow2", "vmdk", "subvol"};
    info_.default_format = "raw";
    info_.file_based = true;
    info_.options = file_storage_common_options();
    info_.options.emplace_back("path", O::FixedRequired);
    info_.options.emplace_back("is_mountpoint", O::Optional);
  }
  const PluginInfo& info() const override { return info_; }

 private:
  PluginInfo info_;
};

}  // namespace

std::unique_ptr<StoragePlugin> make_dir() { return std::make_unique<DirPlugin>(); }

}  // namespace pvx::storage::plugins
