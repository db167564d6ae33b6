// CephFS: a directory storage on a mounted Ceph filesystem (PVE's CephFSPlugin), through the
// kernel client or ceph-fuse (`fuse` 1). The key (`keyring`, sensitive) reaches the mount helper
// as a private secret file. Unlike PVE there is no pveceph-managed cluster config: without
// `monhost` the mount helper finds the monitors in /etc/ceph/ceph.conf.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/netfs_mount.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage {
namespace {

constexpr int kMonPortV2 = 3300;
constexpr int kMonPortV1 = 6789;

std::string cephfs_subdir(const StorageDef& def) {
  std::string subdir = def.str("subdir", "/");
  if (subdir.empty() || subdir.front() != '/') subdir.insert(subdir.begin(), '/');
  return subdir;
}

std::string monitor_list(const StorageDef& def, const char* separator) {
  std::string out;
  for (const auto& mon : parse_monhost(def.str("monhost"))) {
    if (!out.empty()) out += separator;
    out += bracket_ipv6(mon.host);
    if (mon.port > 0) out += ":" + std::to_string(mon.port);
  }
  return out;
}

void check_option_value(const std::string& key, const std::string& value) {
  if (value.find_first_of(",\n") != std::string::npos)
    throw Error::param(key, "must not contain ',' or newlines");
}

class CephfsStorage final : public MountedFileStorage {
 public:
  CephfsStorage() {
    using O = PluginInfo::Option;
    set_network_info("cephfs", {"preallocation"},
                     {{"path", O::FixedRequired},
                      {"monhost", O::Optional},
                      {"subdir", O::Optional},
                      {"options", O::Optional},
                      {"username", O::Optional},
                      {"fuse", O::Optional},
                      {"keyring", O::Optional},
                      {"fs-name", O::Optional}});
    // No disk images on CephFS (PVE keeps them on RBD).
    info_.content = {"vztmpl", "iso", "backup", "snippets", "import"};
    info_.default_content = {"backup"};
    info_.formats.clear();
    info_.default_format.clear();
    info_.sensitive = {"keyring"};
  }

 protected:
  bool is_our_mount(const StorageDef& def, const std::vector<MountEntry>& mounts) const override {
    const std::string tail = ":" + cephfs_subdir(def);
    for (const auto& m : mounts) {
      bool kernel = m.fstype.starts_with("ceph") && m.source.ends_with(tail);
      bool fuse = m.fstype == "fuse.ceph-fuse" && m.source == "ceph-fuse";
      if ((kernel || fuse) && same_path(m.target, def.path())) return true;
    }
    return false;
  }

  std::vector<Endpoint> endpoints(const StorageDef& def) const override { return cephfs_endpoints(def); }

  void mount(const StorageDef& def, const Endpoint&) const override {
    auto key = def.secrets.find("keyring");
    if (key == def.secrets.end() || key->second.empty()) {
      run_command(cephfs_mount_argv(def, {}), {.timeout = mount_timeout(def)});
      return;
    }
    SecretFile secret(cephfs_secret(key->second) + "\n");
    run_command(cephfs_mount_argv(def, secret.path().string()), {.timeout = mount_timeout(def)});
  }

};

}  // namespace

std::vector<Endpoint> parse_monhost(std::string_view monhost) {
  std::vector<Endpoint> out;
  std::size_t pos = 0;
  auto is_sep = [](char c) { return c == ',' || c == ';' || std::isspace(static_cast<unsigned char>(c)); };
  while (pos < monhost.size()) {
    while (pos < monhost.size() && is_sep(monhost[pos])) ++pos;
    std::size_t end = pos;
    while (end < monhost.size() && !is_sep(monhost[end])) ++end;
    std::string item(monhost.substr(pos, end - pos));
    pos = end;
    if (item.empty()) continue;
    // Ceph's address vectors ("[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0]"): the comma split leaves
    // "[v2:addr:port/0" and "v1:addr:port/0]"; keep addr:port.
    if (item.starts_with("[v1:") || item.starts_with("[v2:")) item.erase(0, 1);
    if (item.starts_with("v1:") || item.starts_with("v2:")) {
      item.erase(0, 3);
      if (auto slash = item.find('/'); slash != std::string::npos) item.resize(slash);
      if (item.empty()) continue;
    }
    Endpoint ep;
    if (item.front() == '[') {
      auto close = item.find(']');
      if (close == std::string::npos) throw Error::param("monhost", "invalid monitor address '" + item + "'");
      ep.host = item.substr(1, close - 1);
      if (close + 1 < item.size()) {
        if (item[close + 1] != ':') throw Error::param("monhost", "invalid monitor address '" + item + "'");
        ep.port = std::atoi(item.c_str() + close + 2);
      }
    } else if (std::count(item.begin(), item.end(), ':') == 1) {
      auto colon = item.find(':');
      ep.host = item.substr(0, colon);
      ep.port = std::atoi(item.c_str() + colon + 1);
    } else {
      ep.host = item;  // name, IPv4, or bare IPv6
    }
    if (ep.port < 0 || ep.port > 65535) throw Error::param("monhost", "invalid port in '" + item + "'");
    check_server("monhost", ep.host);
    out.push_back(std::move(ep));
  }
  return out;
}

std::vector<Endpoint> cephfs_endpoints(const StorageDef& def) {
  std::vector<Endpoint> out;
  for (const auto& mon : parse_monhost(def.str("monhost"))) {
    if (mon.port > 0) {
      out.push_back(mon);
    } else {
      out.push_back({mon.host, kMonPortV2});
      out.push_back({mon.host, kMonPortV1});
    }
  }
  return out;
}

std::string cephfs_secret(std::string_view keyring) {
  // A keyring section carries "key = <base64>"; a bare secret is the base64 text itself.
  std::size_t pos = 0;
  while (pos < keyring.size()) {
    std::size_t end = keyring.find('\n', pos);
    if (end == std::string_view::npos) end = keyring.size();
    std::string_view line = keyring.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    if (!line.starts_with("key")) continue;
    line.remove_prefix(3);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() != '=') continue;
    line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (!line.empty()) return std::string(line);
  }
  std::string bare(keyring);
  while (!bare.empty() && std::isspace(static_cast<unsigned char>(bare.back()))) bare.pop_back();
  while (!bare.empty() && std::isspace(static_cast<unsigned char>(bare.front()))) bare.erase(bare.begin());
  if (bare.empty() || bare.find_first_of(" \t\n[") != std::string::npos)
    throw Error::param("keyring", "not a Ceph secret or keyring with a 'key =' line");
  return bare;
}

std::vector<std::string> cephfs_mount_argv(const StorageDef& def, const std::string& secret_file) {
  const std::string user = def.str("username", "admin");
  check_option_value("username", user);
  const std::string fs_name = def.str("fs-name");
  check_option_value("fs-name", fs_name);
  const std::string subdir = cephfs_subdir(def);
  const std::string source = monitor_list(def, ",") + ":" + subdir;

  std::string opts;
  auto add = [&](const std::string& o) { opts += (opts.empty() ? "" : ",") + o; };
  std::string type = "ceph";
  if (def.flag("fuse")) {
    type = "fuse.ceph";
    add("ceph.id=" + user);
    if (!secret_file.empty()) add("ceph.keyfile=" + secret_file);
    if (!fs_name.empty()) add("ceph.client_fs=" + fs_name);
    // ceph-fuse ignores the mount source; monitors and subdirectory go in as its own options.
    if (auto mons = monitor_list(def, " "); !mons.empty()) add("ceph.mon_host=" + mons);
    if (subdir != "/") add("ceph.client_mountpoint=" + subdir);
  } else {
    add("name=" + user);
    if (!secret_file.empty()) add("secretfile=" + secret_file);
    if (!fs_name.empty()) add("fs=" + fs_name);
  }
  if (auto extra = def.str("options"); !extra.empty()) add(extra);
  return {"mount", "-t", type, source, mount_point(def).string(), "-o", opts};
}

namespace plugins {
std::unique_ptr<StoragePlugin> make_cephfs() { return std::make_unique<CephfsStorage>(); }
}  // namespace plugins

}  // namespace pvx::storage
