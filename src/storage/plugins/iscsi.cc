// Storage type `iscsi`: the LUNs of one target, used as whole disks through the kernel
// initiator (open-iscsi). Volumes cannot be created or removed, only chosen; a LUN is named
// "<channel>.<id>.<lun>.<by-id name>" and opened as /dev/disk/by-id/<by-id name>.
#include <algorithm>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/iscsi_commands.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage::plugins {
namespace {

void require_iscsiadm() {
  if (!command_exists("iscsiadm")) throw Error("no iscsi support - please install open-iscsi (iscsiadm not found)", 500);
}

std::vector<iscsi::Session> sessions_of(const std::string& target) {
  CommandOptions opts;
  opts.check = false;  // "No active sessions" is exit code 21
  auto res = run_command(iscsi::sessions_argv(), opts);
  std::vector<iscsi::Session> out;
  for (auto& s : iscsi::parse_sessions(res.out)) {
    if (s.target == target) out.push_back(std::move(s));
  }
  return out;
}

class IscsiPlugin : public iscsi::LunPlugin {
 public:
  IscsiPlugin() : LunPlugin("iscsi") {}

  void activate(const StorageDef& def) const override {
    require_iscsiadm();
    auto target = def.str("target");
    auto sessions = sessions_of(target);
    if (!sessions.empty()) {
      // New LUNs show up only after a rescan of the session.
      for (const auto& s : sessions) {
        CommandOptions opts;
        opts.check = false;
        run_command(iscsi::rescan_argv(s.id), opts);
      }
      return;
    }
    // Discovery records the node (ignored when the portal is down: login then fails clearly).
    CommandOptions quiet;
    quiet.check = false;
    quiet.timeout = std::chrono::seconds(30);
    run_command(iscsi::discovery_argv(def.str("portal")), quiet);
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(60);
    run_command(iscsi::login_argv(target), opts);
  }

  StorageStatus status(const StorageDef& def) const override {
    StorageStatus st;
    if (command_exists("iscsiadm")) st.active = !sessions_of(def.str("target")).empty();
    return st;
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(R"(\d+\.\d+\.\d+\.([^/\s]+))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(volname.begin(), volname.end(), m, kVolname) || m[1] == "." || m[1] == "..") {
      throw Error::param("volume", "unable to parse iscsi volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = m[1].str();
    v.format = "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    if (!snapshot.empty()) throw Error::param("snapshot", "snapshot is not possible on iscsi storage");
    return "/dev/disk/by-id/" + parse_volname(def, volname).name;
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    std::vector<VolumeInfo> out;
    // LUNs belong to no guest.
    if (vmid != 0 || (!content.empty() && !content.count("images"))) return out;
    auto devices = iscsi::device_list("/sys", "/dev/disk/by-id");
    auto it = devices.find(def.str("target"));
    if (it == devices.end()) return out;
    for (const auto& lun : it->second) {
      out.push_back(block::raw_image_entry(def, lun.volname, lun.size, 0));
    }
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto res = run_command({"blockdev", "--getsize64", path(def, volname, {})});
    auto size = block::to_int(block::lines(res.out).empty() ? "" : block::lines(res.out)[0]);
    if (!size) throw Error("unexpected output from blockdev: " + res.out, 500);
    return VolumeSize{.size = *size, .used = *size, .format = "raw"};
  }


  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override {
    parse_volname(def, volname);
    return {"raw+size"};
  }

  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override {
    block::check_raw_transfer("iscsi", format, options);
    block::export_raw_device(path(def, volname, {}), out_fd);
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_iscsi() { return std::make_unique<IscsiPlugin>(); }

}  // namespace pvx::storage::plugins
