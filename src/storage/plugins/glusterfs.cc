// GlusterFS: a directory storage on a FUSE-mounted Gluster volume (PVE 8's GlusterfsPlugin; PVE 9
// dropped the type, pvx keeps it). Unlike PVE, disk images are opened through the FUSE mount, not
// as gluster:// URLs, so QEMU needs no gluster block driver.
#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/netfs_mount.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage {
namespace {

constexpr int kGlusterdPort = 24007;

std::string gluster_volume(const StorageDef& def) {
  std::string volume = def.str("volume");
  bool bad = volume.empty() || volume.front() == '-';
  for (unsigned char c : volume)
    if (c <= ' ' || c == '/' || c == ':' || c == ',' || c == 0x7f) bad = true;
  if (bad) throw Error::param("volume", "invalid Gluster volume name '" + volume + "'");
  return volume;
}

class GlusterfsStorage final : public MountedFileStorage {
 public:
  GlusterfsStorage() {
    using O = PluginInfo::Option;
    set_network_info("glusterfs", {"content-dirs"},
                     {{"path", O::FixedRequired},
                      {"server", O::Optional},
                      {"server2", O::Optional},
                      {"volume", O::FixedRequired},
                      {"transport", O::Optional}});
    info_.content = {"images", "vztmpl", "iso", "backup", "snippets", "import"};
  }

 protected:
  bool is_our_mount(const StorageDef& def, const std::vector<MountEntry>& mounts) const override {
    const std::string tail = ":" + def.str("volume");
    for (const auto& m : mounts) {
      if (m.fstype != "fuse.glusterfs") continue;
      if (!m.source.ends_with(tail) || m.source.size() == tail.size()) continue;
      if (same_path(m.target, def.path())) return true;
    }
    return false;
  }

  std::vector<Endpoint> endpoints(const StorageDef& def) const override { return glusterfs_endpoints(def); }

  void mount(const StorageDef& def, const Endpoint& online) const override {
    std::string server = online.host.empty() ? def.str("server", "localhost") : online.host;
    run_command(glusterfs_mount_argv(def, server), {.timeout = mount_timeout(def)});
  }

};

}  // namespace

std::vector<std::string> glusterfs_mount_argv(const StorageDef& def, const std::string& server) {
  check_server("server", server);
  std::vector<std::string> argv{"mount", "-t", "glusterfs", bracket_ipv6(server) + ":" + gluster_volume(def),
                                mount_point(def).string()};
  std::string opts;
  auto add = [&](const std::string& o) { opts += (opts.empty() ? "" : ",") + o; };
  // The volfile server not used for the mount is the fallback when the first one goes away.
  for (const char* key : {"server", "server2"}) {
    std::string other = def.str(key, std::string(key) == "server" ? "localhost" : "");
    if (!other.empty() && other != server) {
      check_server(key, other);
      add("backup-volfile-servers=" + strip_brackets(other));
    }
  }
  if (auto transport = def.str("transport"); !transport.empty()) {
    if (transport != "tcp" && transport != "rdma" && transport != "unix")
      throw Error::param("transport", "must be tcp, rdma or unix");
    add("transport=" + transport);
  }
  if (!opts.empty()) argv.insert(argv.end(), {"-o", opts});
  return argv;
}

std::vector<Endpoint> glusterfs_endpoints(const StorageDef& def) {
  std::vector<Endpoint> out{{def.str("server", "localhost"), kGlusterdPort}};
  if (auto server2 = def.str("server2"); !server2.empty()) out.push_back({server2, kGlusterdPort});
  return out;
}

namespace plugins {
std::unique_ptr<StoragePlugin> make_glusterfs() { return std::make_unique<GlusterfsStorage>(); }
}  // namespace plugins

}  // namespace pvx::storage
