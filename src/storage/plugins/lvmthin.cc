// Storage type `lvmthin`: VM and container disks as thin volumes of one thin pool. Snapshots are
// read-only thin snapshots "snap_<volname>_<snap>"; a template is the volume renamed to
// "base-..." and made read-only, and linked clones are writable thin snapshots of it.
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
using block::VolumeState;

class LvmThinPlugin : public StoragePlugin {
 public:
  const PluginInfo& info() const override {
    static const PluginInfo kInfo{
        .type = "lvmthin",
        .content = {"images", "rootdir"},
        .default_content = {"images", "rootdir"},
        .formats = {"raw"},
        .default_format = "raw",
        .options = {{"thinpool", Opt::FixedRequired},
                    {"vgname", Opt::FixedRequired},
                    {"nodes", Opt::Optional},
                    {"disable", Opt::Optional},
                    {"content", Opt::Optional},
                    {"bwlimit", Opt::Optional}},
    };
    return kInfo;
  }

  void activate(const StorageDef& def) const override {
    auto pool = find_lv(def, pool_name(def));
    if (!pool || pool->type() != 't') {
      throw Error("thin pool '" + vg(def) + "/" + pool_name(def) + "' not found", 500);
    }
    if (!pool->active()) lvm::run({"lvchange", "-ay", "-K", vg(def) + "/" + pool_name(def)});
  }

  StorageStatus status(const StorageDef& def) const override {
    StorageStatus st;
    auto pool = find_lv(def, pool_name(def));
    if (!pool || pool->type() != 't' || pool->size == 0) return st;
    st.total = pool->size;
    st.used = pool->used;
    st.avail = pool->size - pool->used;
    st.active = pool->active();
    return st;
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(R"((vm|base)-(\d+)-[A-Za-z0-9+_.\-]+)");
    std::match_results<std::string_view::const_iterator> m;
    if (volname.size() > 127 || !std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
      throw Error::param("volume", "unable to parse lvm volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = std::string(volname);
    v.vmid = std::stoll(m[2].str());
    v.is_base = m[1] == "base";
    v.format = "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    auto v = parse_volname(def, volname);
    if (snapshot.empty()) return "/dev/" + vg(def) + "/" + v.name;
    block::check_snapshot_name(snapshot);
    return "/dev/" + vg(def) + "/" + lvm::thin_snapshot_lv(v.name, snapshot);
  }

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override {
    if (!format.empty() && format != "raw") throw Error::param("format", "unsupported format '" + format + "'");
    if (size_kib <= 0) throw Error::param("size", "size must be positive");
    std::string volname = name;
    if (volname.empty()) {
      volname = free_name(def, vmid);
    } else {
      block::check_owned_name(volname, "vm", vmid);
      parse_volname(def, volname);
      if (find_lv(def, volname)) throw Error::param("name", "volume '" + vg(def) + "/" + volname + "' already exists");
    }
    lvm::run(lvm::thin_create_argv(vg(def), pool_name(def), volname, size_kib));
    no_autoactivation(def, volname);
    return volname;
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    // Snapshots first: a thin volume with snapshots can be removed, but they would be orphaned.
    std::string prefix = "snap_" + v.name + "_";
    for (const auto& lv : lvm::list_lvs(vg(def))) {
      if (lv.name.starts_with(prefix)) lvm::run(lvm::lvremove_argv(vg(def), lv.name));
    }
    lvm::run(lvm::lvremove_argv(vg(def), v.name));
  }

  std::string create_base(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (v.is_base) throw Error::param("volume", "create_base not possible with base image");
    std::string prefix = "snap_" + v.name + "_";
    for (const auto& lv : lvm::list_lvs(vg(def))) {
      if (lv.name.starts_with(prefix)) {
        throw Error("unable to create base volume - found snapshot '" + lv.name + "'", 400);
      }
    }
    std::string base = "base-" + v.name.substr(3);
    lvm::run(lvm::lvrename_argv(vg(def), v.name, base));
    // Read-only and skipped at activation; failing here leaves a usable base, as in PVE.
    try {
      lvm::run({"lvchange", "-pr", "-ky", vg(def) + "/" + base});
      lvm::run({"lvchange", "-an", vg(def) + "/" + base});
    } catch (const Error&) {
    }
    return base;
  }

  std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                          std::string_view snapshot) const override {
    auto v = parse_volname(def, base_volname);
    std::string source;
    if (!snapshot.empty()) {
      block::check_snapshot_name(snapshot);
      source = vg(def) + "/" + lvm::thin_snapshot_lv(v.name, snapshot);
    } else {
      if (!v.is_base) throw Error::param("volume", "clone_image only works on base images");
      source = vg(def) + "/" + v.name;
    }
    auto name = free_name(def, vmid);
    lvm::run(lvm::thin_clone_argv(source, name));
    no_autoactivation(def, name);
    return name;
  }

  std::string copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                         const std::string& target_name) const override {
    auto size = volume_size(def, volname).size;
    auto target = alloc_image(def, vmid, "raw", target_name, (size + 1023) / 1024);
    try {
      activate_volume(def, volname);
      CommandOptions opts;
      opts.timeout = std::chrono::hours(24);
      // Only written blocks are copied (-S), keeping the copy thin.
      run_command({"qemu-img", "convert", "-n", "-S", "64k", "-f", "raw", "-O", "raw", path(def, volname, {}),
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
    static const std::regex kOwner(R"((vm|base)-(\d+)-.*)");
    for (const auto& lv : lvm::list_lvs(vg(def))) {
      std::smatch m;
      if (!std::regex_match(lv.name, m, kOwner)) continue;
      if (lv.type() != 'V' || lv.pool_lv != pool_name(def)) continue;
      auto owner = std::stoll(m[2].str());
      if (vmid != 0 && owner != vmid) continue;
      out.push_back(block::raw_image_entry(def, lv.name, lv.size, owner, lv.ctime));
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
        {Feature::Snapshot, {VolumeState::Current}},
        {Feature::Clone, {VolumeState::Base, VolumeState::Snap}},
        {Feature::Template, {VolumeState::Current}},
        {Feature::Copy, {VolumeState::Base, VolumeState::Current, VolumeState::Snap}},
        {Feature::SparseInit, {VolumeState::Base, VolumeState::Current}},
        {Feature::Rename, {VolumeState::Current}},
    };
    return block::feature_in(kFeatures, feature, block::volume_state(parse_volname(def, volname), snapshot));
  }

  void snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    lvm::run(lvm::thin_snapshot_argv(vg(def), v.name, std::string(snap)));
  }

  void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    if (!find_lv(def, lvm::thin_snapshot_lv(v.name, snap))) {
      throw Error("can't rollback, snapshot '" + std::string(snap) + "' does not exist on '" + v.name + "'", 400);
    }
    lvm::run(lvm::lvremove_argv(vg(def), v.name));
    lvm::run(lvm::thin_rollback_argv(vg(def), v.name, std::string(snap)));
    no_autoactivation(def, v.name);
  }

  void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    lvm::run(lvm::lvremove_argv(vg(def), lvm::thin_snapshot_lv(v.name, snap)));
  }

  void activate_volume(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    auto lv = find_lv(def, v.name);
    if (!lv) throw Error("no such logical volume " + vg(def) + "/" + v.name, 500);
    if (!lv->active()) lvm::run({"lvchange", "-ay", "-K", vg(def) + "/" + v.name});
  }

  void deactivate_volume(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    // Only templates are deactivated; running guests' volumes stay active as in PVE.
    if (!v.is_base) return;
    lvm::run({"lvchange", "-an", vg(def) + "/" + v.name});
  }

  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override {
    parse_volname(def, volname);
    return {"raw+size"};
  }

  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override {
    block::check_raw_transfer(info().type, format, options);
    activate_volume(def, volname);
    block::export_raw_device(path(def, volname, {}), out_fd);
  }

  std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format, int in_fd,
                            const TransferOptions& options) const override {
    block::check_raw_transfer(info().type, format, options);
    auto v = parse_volname(def, volname);
    auto size = read_size_header(in_fd);
    // A base arrives as a vm- volume and becomes a base again after the data is in.
    std::string name = v.is_base ? "vm-" + v.name.substr(5) : v.name;
    if (find_lv(def, name) || (v.is_base && find_lv(def, v.name))) {
      if (!options.allow_rename) throw Error("volume " + vg(def) + "/" + v.name + " already exists", 400);
      name.clear();
    }
    name = alloc_image(def, v.vmid, "raw", name, (size + 1023) / 1024);
    try {
      block::copy_stream_to_device(in_fd, path(def, name, {}));
    } catch (...) {
      lvm::remove_quietly(vg(def), name);
      throw;
    }
    return v.is_base ? create_base(def, name) : name;
  }

 private:
  static std::string vg(const StorageDef& def) { return block::required(def, "vgname"); }
  static std::string pool_name(const StorageDef& def) { return block::required(def, "thinpool"); }

  static std::optional<lvm::LvInfo> find_lv(const StorageDef& def, const std::string& name) {
    for (auto& lv : lvm::list_lvs(vg(def))) {
      if (lv.name == name) return lv;
    }
    return std::nullopt;
  }

  static std::string free_name(const StorageDef& def, std::int64_t vmid) {
    std::vector<std::string> names;
    for (const auto& lv : lvm::list_lvs(vg(def))) names.push_back(lv.name);
    return block::next_disk_name(names, vmid, "vm", {"vm", "base"});
  }

  // New thin volumes are not activated at boot (PVE activates them on use); failure is harmless.
  static void no_autoactivation(const StorageDef& def, const std::string& name) {
    try {
      lvm::run(lvm::set_autoactivation_argv(vg(def), name, false));
    } catch (const Error&) {
    }
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_lvmthin() { return std::make_unique<LvmThinPlugin>(); }

}  // namespace pvx::storage::plugins
