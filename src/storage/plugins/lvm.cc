// Storage type `lvm`: VM disks as linear logical volumes "vm-<vmid>-disk-<n>" of one volume
// group, opened by QEMU as /dev/<vg>/<lv>. No snapshots or templates on plain LVM (PVE's qcow2
// volume chains on LVM are not implemented); `saferemove` zeroes a disk before removing it.
#include <algorithm>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/lvm_commands.h"
#include "storage/plugins/plugins.h"
#include "storage/stream_util.h"

namespace pvx::storage::plugins {
namespace {

using Opt = PluginInfo::Option;

// LVM's own name rules (lvm(8)), which also keep names from reading as options or paths.
void check_lv_name(std::string_view name) {
  static const std::regex kLvName(R"([A-Za-z0-9+_.][A-Za-z0-9+_.\-]{0,126})");
  if (!std::regex_match(name.begin(), name.end(), kLvName) || name == "." || name == "..") {
    throw Error::param("volume", "invalid LVM volume name '" + std::string(name) + "'");
  }
}

class LvmPlugin : public StoragePlugin {
 public:
  const PluginInfo& info() const override {
    static const PluginInfo kInfo{
        .type = "lvm",
        .content = {"images", "rootdir"},
        .default_content = {"images"},
        .formats = {"raw"},
        .default_format = "raw",
        .options = {{"vgname", Opt::FixedRequired},
                    {"base", Opt::Fixed},
                    {"nodes", Opt::Optional},
                    {"shared", Opt::Optional},
                    {"disable", Opt::Optional},
                    {"saferemove", Opt::Optional},
                    {"saferemove-stepsize", Opt::Optional},
                    {"saferemove_throughput", Opt::Optional},
                    {"content", Opt::Optional},
                    {"tagged_only", Opt::Optional},
                    {"bwlimit", Opt::Optional},
                    {"snapshot-as-volume-chain", Opt::Optional}},
    };
    return kInfo;
  }

  void on_add(StorageDef& def) const override {
    // PVE creates the VG on an iSCSI LUN named by `base`; resolving another storage is the
    // service's job, so here the VG must exist already when `base` is given.
    if (!def.str("base").empty() && !find_vg(vg(def))) {
      throw Error::param("base", "volume group '" + vg(def) + "' does not exist; create it on the base volume first");
    }
    if (def.flag("snapshot-as-volume-chain")) {
      throw Error::param("snapshot-as-volume-chain", "qcow2 volume chains on LVM are not supported");
    }
  }

  void activate(const StorageDef& def) const override {
    if (find_vg(vg(def))) return;
    // LVM scans by itself; a rescan helps after devices appeared late (iSCSI login).
    try {
      lvm::run({"vgscan", "--ignorelockingfailure", "--mknodes"});
    } catch (const Error&) {
    }
    if (!find_vg(vg(def))) throw Error("volume group '" + vg(def) + "' not found", 500);
  }

  void deactivate(const StorageDef& def) const override { lvm::run({"vgchange", "-aln", vg(def)}); }

  StorageStatus status(const StorageDef& def) const override {
    StorageStatus st;
    std::optional<lvm::VgInfo> info;
    try {
      info = find_vg(vg(def));
    } catch (const Error&) {
      return st;  // no LVM tools or no VG: inactive, as PVE reports it
    }
    if (info) {
      st.total = info->size;
      st.avail = info->free;
      st.used = info->size - info->free;
      st.active = true;
    }
    return st;
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(R"(vm-(\d+)-\S+)");
    std::match_results<std::string_view::const_iterator> m;
    check_lv_name(volname);
    if (!std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
      throw Error::param("volume", "unable to parse lvm volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = std::string(volname);
    v.vmid = std::stoll(m[1].str());
    v.format = volname.ends_with(".qcow2") ? "qcow2" : "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    auto v = parse_volname(def, volname);
    if (!snapshot.empty()) throw Error::param("snapshot", "lvm volumes have no snapshots");
    return "/dev/" + vg(def) + "/" + v.name;
  }

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override {
    if (!format.empty() && format != "raw") {
      throw Error::param("format", "unsupported format '" + format + "' on lvm storage (only raw)");
    }
    if (size_kib <= 0) throw Error::param("size", "size must be positive");
    auto lvs = lvm::list_lvs(vg(def));
    std::string volname = name;
    if (volname.empty()) {
      std::vector<std::string> names;
      for (const auto& lv : lvs) names.push_back(lv.name);
      volname = block::next_disk_name(names, vmid, "vm", {"vm", "base"});
    } else {
      block::check_owned_name(volname, "vm", vmid);
      check_lv_name(volname);
      if (std::any_of(lvs.begin(), lvs.end(), [&](const auto& lv) { return lv.name == volname; })) {
        throw Error::param("name", "volume '" + vg(def) + "/" + volname + "' already exists");
      }
    }
    auto info = find_vg(vg(def));
    if (!info) throw Error("no such volume group '" + vg(def) + "'", 500);
    if (info->free < size_kib * 1024) {
      throw Error("not enough free space in volume group '" + vg(def) + "' (" + std::to_string(info->free) +
                      " < " + std::to_string(size_kib * 1024) + ")",
                  500);
    }
    lvm::run(lvm::lvcreate_argv(vg(def), volname, size_kib, {"pve-vm-" + std::to_string(vmid)}));
    return volname;
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (!def.flag("saferemove")) {
      lvm::run(lvm::lvremove_argv(vg(def), v.name));
      return;
    }
    // Rename first so the name is free at once and a half-wiped disk is never listed as a VM disk.
    std::string doomed = "del-" + v.name;
    lvm::run(lvm::lvrename_argv(vg(def), v.name, doomed));
    std::string device = "/dev/" + vg(def) + "/" + doomed;
    lvm::run(lvm::lvchange_activate_argv(vg(def) + "/" + doomed, true));
    auto step = def.integer("saferemove-stepsize", 32);
    CommandOptions opts;
    opts.timeout = std::chrono::hours(24);
    run_command({"blkdiscard", "--zeroout", "--step", std::to_string(step) + "M", device}, opts);
    lvm::run(lvm::lvremove_argv(vg(def), doomed));
  }

  std::string copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                         const std::string& target_name) const override {
    auto size = volume_size(def, volname).size;
    auto target = alloc_image(def, vmid, "raw", target_name, (size + 1023) / 1024);
    try {
      CommandOptions opts;
      opts.timeout = std::chrono::hours(24);
      run_command({"qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", path(def, volname, {}),
                   path(def, target, {})},
                  opts);
    } catch (...) {
      lvm::remove_quietly(vg(def), target);
      throw;
    }
    return target;
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    std::vector<VolumeInfo> out;
    if (!block::lists_images(content)) return out;
    static const std::regex kOwner(R"(vm-(\d+)-.*)");
    static const std::regex kPveTag(R"(pve-vm-\d+)");
    for (const auto& lv : lvm::list_lvs(vg(def))) {
      std::smatch m;
      if (!std::regex_match(lv.name, m, kOwner)) continue;
      auto owner = std::stoll(m[1].str());
      if (vmid != 0 && owner != vmid) continue;
      if (def.flag("tagged_only") &&
          std::none_of(lv.tags.begin(), lv.tags.end(), [](const auto& t) { return std::regex_match(t, kPveTag); })) {
        continue;
      }
      // Linear, mirrored and RAID LVs only: thin pools, thin volumes and snapshots belong elsewhere.
      if (std::string_view("-mMrR").find(lv.type()) == std::string_view::npos) continue;
      auto vi = block::raw_image_entry(def, lv.name, lv.size, owner, lv.ctime);
      if (lv.name.ends_with(".qcow2")) vi.format = "qcow2";
      out.push_back(std::move(vi));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.volid < b.volid; });
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto size = lvm::lv_bytes(path(def, volname, {}), volname);
    return VolumeSize{.size = size, .used = size, .format = "raw"};
  }

  void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const override {
    lvm::lv_grow(path(def, volname, {}), size_bytes);
  }

  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot) const override {
    static const std::vector<block::FeatureRow> kFeatures = {
        {Feature::Copy, {block::VolumeState::Base, block::VolumeState::Current}},
        {Feature::Rename, {block::VolumeState::Current}},
    };
    auto v = parse_volname(def, volname);
    if (v.format != "raw") return false;
    return block::feature_in(kFeatures, feature, block::volume_state(v, snapshot));
  }

  void activate_volume(const StorageDef& def, std::string_view volname) const override {
    auto p = path(def, volname, {});
    lvm::run({"lvchange", "-aey", p});
    lvm::run({"lvchange", "--refresh", p});
  }

  void deactivate_volume(const StorageDef& def, std::string_view volname) const override {
    auto p = path(def, volname, {});
    if (!std::filesystem::exists(p)) return;
    lvm::run(lvm::lvchange_activate_argv(p, false));
  }

  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override {
    parse_volname(def, volname);
    return {"raw+size"};
  }

  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override {
    block::check_raw_transfer(info().type, format, options);
    block::export_raw_device(path(def, volname, {}), out_fd);
  }

  std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format, int in_fd,
                            const TransferOptions& options) const override {
    block::check_raw_transfer(info().type, format, options);
    auto v = parse_volname(def, volname);
    auto size = read_size_header(in_fd);
    std::string name = v.name;
    auto lvs = lvm::list_lvs(vg(def));
    if (std::any_of(lvs.begin(), lvs.end(), [&](const auto& lv) { return lv.name == name; })) {
      if (!options.allow_rename) throw Error("volume " + vg(def) + "/" + name + " already exists", 400);
      name.clear();
    }
    name = alloc_image(def, v.vmid, "raw", name, (size + 1023) / 1024);
    try {
      activate_volume(def, name);
      block::copy_stream_to_device(in_fd, path(def, name, {}));
    } catch (...) {
      lvm::remove_quietly(vg(def), name);
      throw;
    }
    return name;
  }

 private:
  static std::string vg(const StorageDef& def) { return block::required(def, "vgname"); }

  static std::optional<lvm::VgInfo> find_vg(const std::string& name) {
    for (auto& info : lvm::list_vgs()) {
      if (info.name == name) return info;
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_lvm() { return std::make_unique<LvmPlugin>(); }

}  // namespace pvx::storage::plugins
