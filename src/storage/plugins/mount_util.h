#pragma once
// What the network file storages (nfs, cifs, cephfs, glusterfs) share: reading the mount table,
// checking that a server answers before mounting, handing secrets to mount helpers through a
// private file, and the activate/deactivate/status sequence around the mount itself.
//
// The reachability check exists because a mount against a dead server can block for minutes
// (NFS retries, CIFS echo timeouts); a TCP connect bounded by HostEnv::connect_timeout fails fast
// with a message naming the storage instead.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "storage/file_storage.h"

namespace pvx::storage {

// One line of /proc/self/mounts, octal escapes (\040 for space, ...) decoded.
struct MountEntry {
  std::string source, target, fstype, options;
};
std::vector<MountEntry> parse_proc_mounts(std::string_view text);
std::vector<MountEntry> read_mounts();  // /proc/self/mounts

struct Endpoint {
  std::string host;  // name or address; IPv6 may come in brackets
  int port = 0;
};

// Whether a TCP connection to host:port opens within `timeout` (non-blocking connect + poll over
// every resolved address). On failure `why` says what went wrong.
bool tcp_reachable(const Endpoint& endpoint, std::chrono::milliseconds timeout, std::string& why);

// The first endpoint that answers; throws Error 500 "storage '<id>' is not online - ..." when
// none does. All endpoints share one deadline of def.host->connect_timeout (10 s without host).
Endpoint require_online(const StorageDef& def, const std::vector<Endpoint>& endpoints);

// "[addr]" for IPv6 literals (mount sources are "server:export"), the name unchanged otherwise.
std::string bracket_ipv6(const std::string& host);
// host without the brackets of "[addr]".
std::string strip_brackets(const std::string& host);

// Whether a mount table target is the configured path (trailing slashes and "." ignored).
bool same_path(const std::string& mount_target, const std::filesystem::path& configured);

// Checks a host name or address used in a mount source; throws Error::param(key) when it is
// empty or could be taken for an option or path ("-x", spaces, '/').
void check_server(const std::string& key, const std::string& server);
// The configured mount point: absolute, or Error::param("path").
std::filesystem::path mount_point(const StorageDef& def);

// `port=<n>` from a mount option string, 0 when absent.
int port_option(std::string_view options);

// A file readable only by root holding one secret, for mount helpers that read passwords or keys
// from files (mount.cifs credentials=, mount.ceph secretfile=). Lives in a fresh 0700 directory
// and is removed with it when the object goes away: the kernel keeps what it needs after mount.
class SecretFile {
 public:
  explicit SecretFile(const std::string& content);
  ~SecretFile();
  SecretFile(const SecretFile&) = delete;
  SecretFile& operator=(const SecretFile&) = delete;
  const std::filesystem::path& path() const { return file_; }

 private:
  std::filesystem::path dir_, file_;
};

using OptionList = std::vector<std::pair<std::string, PluginInfo::Option>>;

// A file storage that lives on a mounted network filesystem at `path` (default
// <mount_root>/<storage id>, as PVE's /mnt/pve/<id>).
class MountedFileStorage : public FileStorage {
 public:
  const PluginInfo& info() const override { return info_; }
  void on_add(StorageDef& def) const override;
  // When not mounted: creates the mount point (unless create-base-path/mkdir 0), checks the
  // server answers, mounts; then FileStorage::activate (content subdirectories).
  void activate(const StorageDef& def) const override;
  void deactivate(const StorageDef& def) const override;
  // Inactive (all zero) while not mounted, so a dead server is never stat'ed through the path.
  StorageStatus status(const StorageDef& def) const override;

  bool is_mounted(const StorageDef& def) const { return is_our_mount(def, read_mounts()); }

 protected:
  // What the network types share in info_: shared, file based, all of PVE's file content types
  // (default images), raw/qcow2/vmdk images; options are file_storage_common_options() without
  // shared/is_mountpoint/nocow and `drop`, merged with `add`. Types narrow the rest afterwards.
  void set_network_info(std::string type, std::vector<std::string> drop, const OptionList& add);

  virtual bool is_our_mount(const StorageDef& def, const std::vector<MountEntry>& mounts) const = 0;
  // Servers to try, in order; empty = no check possible (the mount helper finds the servers).
  virtual std::vector<Endpoint> endpoints(const StorageDef& def) const = 0;
  // Runs the mount; `online` is the endpoint that answered (host empty when none was checked).
  virtual void mount(const StorageDef& def, const Endpoint& online) const = 0;

  PluginInfo info_;
};

// `base` without the keys in `drop`, then each of `add` replacing a key of the same name or
// appended: a type's option list from file_storage_common_options().
OptionList merge_options(OptionList base, const std::vector<std::string>& drop, const OptionList& add);

// How long a mount command may run before it is killed.
std::chrono::milliseconds mount_timeout(const StorageDef& def);

}  // namespace pvx::storage
