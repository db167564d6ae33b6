#pragma once
// iSCSI through open-iscsi (iscsiadm, kernel sessions, /dev/disk/by-id) for the `iscsi` type and
// through libiscsi's userspace tools (iscsi-ls, iscsi-readcapacity16) for `iscsidirect`.
// Output parsing and the sysfs walk are pure (the walk takes its roots as parameters).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage_plugin.h"

namespace pvx::storage::iscsi {

// "<portal>,<tpgt> <target>" lines of `iscsiadm --mode discovery|node`.
struct Node {
  std::string portal, target;
};
std::vector<Node> parse_nodes(std::string_view output);

// "tcp: [<sid>] <portal>,<tpgt> <target> (non-flash)" lines of `iscsiadm --mode session`.
struct Session {
  std::string id, portal, target;
};
std::vector<Session> parse_sessions(std::string_view output);

std::vector<std::string> discovery_argv(const std::string& portal);
std::vector<std::string> nodes_argv();
std::vector<std::string> sessions_argv();
std::vector<std::string> login_argv(const std::string& target);
std::vector<std::string> rescan_argv(const std::string& session_id);

// Whether `portal` is "<ip>[:port]", "[v6][:port]" or "<host>[:port]" (nothing an argv could misread).
bool is_portal(std::string_view portal);

// One disk LUN of a logged-in target: volname "<channel>.<id>.<lun>.<by-id name>".
struct Lun {
  std::string volname;
  std::string by_id;       // name under /dev/disk/by-id
  std::int64_t size = 0;   // bytes
  int channel = 0, id = 0, lun = 0;
};
// Walks <sys>/class/iscsi_session, <sys>/bus/scsi/devices and <sys>/block, naming devices by
// their stable links in `by_id_dir` (scsi-* and dm-uuid-mpath-*). Keyed by target name.
std::map<std::string, std::vector<Lun>> device_list(const std::filesystem::path& sys,
                                                    const std::filesystem::path& by_id_dir);

// --- libiscsi userspace tools (iscsidirect)
struct LsLun {
  std::string target;
  int lun = 0;
  std::string type;        // DIRECT_ACCESS, STORAGE_ARRAY_CONTROLLER, ...
  std::int64_t size = 0;   // bytes as iscsi-ls prints them (rounded down to its unit)
};
// `iscsi-ls -s iscsi://<portal>`: every target of the portal with its LUNs.
std::vector<std::string> iscsi_ls_argv(const std::string& portal);
std::vector<LsLun> parse_iscsi_ls(std::string_view output);
// `iscsi-readcapacity16 iscsi://<portal>/<target>/<lun>`: exact size in bytes ("Total size:").
std::string lun_url(const std::string& portal, const std::string& target, int lun);
std::int64_t parse_readcapacity16(std::string_view output);

// What the iscsi and iscsidirect types share: one target's LUNs at a portal, chosen rather than
// created (allocating and freeing are refused), raw, and only copied (no snapshots or clones).
class LunPlugin : public StoragePlugin {
 public:
  explicit LunPlugin(std::string type);
  const PluginInfo& info() const override { return info_; }
  void on_add(StorageDef& def) const override;
  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override;
  void free_image(const StorageDef& def, std::string_view volname) const override;
  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot) const override;

 private:
  PluginInfo info_;
};

}  // namespace pvx::storage::iscsi
