// Storage type `iscsidirect`: the LUNs of one target, opened by QEMU's own iSCSI initiator
// (libiscsi) as "iscsi://<portal>/<target>/<lun>", so the host needs no kernel session. Listing
// and sizes come from libiscsi's userspace tools (iscsi-ls, iscsi-readcapacity16).
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/iscsi_commands.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage::plugins {
namespace {

std::string run_libiscsi(const std::vector<std::string>& argv) {
  if (!command_exists(argv[0])) {
    throw Error(argv[0] + " not found - please install libiscsi-bin (libiscsi's userspace tools)", 500);
  }
  CommandOptions opts;
  opts.timeout = std::chrono::seconds(30);
  return run_command(argv, opts).out;
}

class IscsiDirectPlugin : public iscsi::LunPlugin {
 public:
  IscsiDirectPlugin() : LunPlugin("iscsidirect") {}

  // Nothing to log in to: QEMU connects per disk. Checking the target answers catches typos.
  void activate(const StorageDef& def) const override { luns(def); }

  StorageStatus status(const StorageDef&) const override {
    // A target reports no capacity of its own; PVE shows such storage as active and empty.
    return StorageStatus{.active = true};
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(R"(lun(\d{1,5}))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
      throw Error::param("volume", "unable to parse iscsi volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = std::string(volname);
    v.format = "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    if (!snapshot.empty()) throw Error::param("snapshot", "volume snapshot is not possible on iscsi device");
    return iscsi::lun_url(def.str("portal"), def.str("target"), lun_number(def, volname));
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    std::vector<VolumeInfo> out;
    if (vmid != 0 || (!content.empty() && !content.count("images"))) return out;
    for (const auto& l : luns(def)) {
      out.push_back(block::raw_image_entry(def, "lun" + std::to_string(l.lun), l.size, 0));
    }
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto size = iscsi::parse_readcapacity16(run_libiscsi({"iscsi-readcapacity16", path(def, volname, {})}));
    return VolumeSize{.size = size, .used = size, .format = "raw"};
  }


 private:
  static int lun_number(const StorageDef& def, std::string_view volname) {
    VolumeName v = IscsiDirectPlugin().parse_volname(def, volname);
    return std::stoi(v.name.substr(3));
  }

  // Disk LUNs of the configured target (iscsi-ls lists every target of the portal).
  static std::vector<iscsi::LsLun> luns(const StorageDef& def) {
    std::vector<iscsi::LsLun> out;
    for (auto& l : iscsi::parse_iscsi_ls(run_libiscsi(iscsi::iscsi_ls_argv(def.str("portal"))))) {
      if (l.target == def.str("target") && l.type == "DIRECT_ACCESS") out.push_back(std::move(l));
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_iscsidirect() { return std::make_unique<IscsiDirectPlugin>(); }

}  // namespace pvx::storage::plugins
