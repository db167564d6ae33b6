// NFS: a directory storage on an NFS export mounted at `path` (PVE's NFSPlugin).
#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/netfs_mount.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage {
namespace {

constexpr int kNfsPort = 2049;

std::string nfs_source(const StorageDef& def) {
  return bracket_ipv6(def.str("server")) + ":" + def.str("export");
}

class NfsStorage final : public MountedFileStorage {
 public:
  NfsStorage() {
    using O = PluginInfo::Option;
    set_network_info("nfs", {},
                     {{"path", O::FixedRequired},
                      {"server", O::FixedRequired},
                      {"export", O::FixedRequired},
                      {"options", O::Optional},
                      {"snapshot-as-volume-chain", O::Fixed}});
  }

 protected:
  bool is_our_mount(const StorageDef& def, const std::vector<MountEntry>& mounts) const override {
    const std::string source = nfs_source(def);
    for (const auto& m : mounts) {
      if (!m.fstype.starts_with("nfs")) continue;
      if (m.source != source && m.source != source + "/") continue;
      if (same_path(m.target, def.path())) return true;
    }
    return false;
  }

  std::vector<Endpoint> endpoints(const StorageDef& def) const override { return nfs_endpoints(def); }

  void mount(const StorageDef& def, const Endpoint&) const override {
    run_command(nfs_mount_argv(def), {.timeout = mount_timeout(def)});
  }

};

}  // namespace

std::vector<std::string> nfs_mount_argv(const StorageDef& def) {
  check_server("server", def.str("server"));
  const std::string exp = def.str("export");
  if (exp.empty() || exp.front() != '/') throw Error::param("export", "export must be an absolute path");
  std::vector<std::string> argv{"mount", "-t", "nfs", nfs_source(def), mount_point(def).string()};
  if (auto options = def.str("options"); !options.empty()) {
    argv.push_back("-o");
    argv.push_back(options);
  }
  return argv;
}

std::vector<Endpoint> nfs_endpoints(const StorageDef& def) {
  int port = port_option(def.str("options"));
  return {{def.str("server"), port > 0 ? port : kNfsPort}};
}

namespace plugins {
std::unique_ptr<StoragePlugin> make_nfs() { return std::make_unique<NfsStorage>(); }
}  // namespace plugins

}  // namespace pvx::storage
