// Storage type `zfspool`: VM disks as zvols "vm-<vmid>-disk-<n>" (/dev/zvol/<pool>/<name>),
// container volumes as datasets "subvol-<vmid>-disk-<n>" mounted under the pool's mountpoint.
// A template renames the volume to base-/basevol- and takes the snapshot "__base__"; linked
// clones are zfs clones of it, named "<base>/<clone>" in volume ids.
#include <algorithm>
#include <regex>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/plugins.h"
#include "storage/plugins/zfspool_commands.h"

namespace pvx::storage::plugins {
namespace {

using Opt = PluginInfo::Option;
using block::VolumeState;

constexpr std::string_view kBaseSnap = "__base__";

std::string run_zfs(const std::vector<std::string>& argv) { return run_command(argv).out; }

class ZfsPoolPlugin : public StoragePlugin {
 public:
  const PluginInfo& info() const override {
    static const PluginInfo kInfo{
        .type = "zfspool",
        .content = {"images", "rootdir"},
        .default_content = {"images", "rootdir"},
        .formats = {"raw", "subvol"},
        .default_format = "raw",
        .options = {{"pool", Opt::FixedRequired},
                    {"blocksize", Opt::Optional},
                    {"sparse", Opt::Optional},
                    {"nodes", Opt::Optional},
                    {"disable", Opt::Optional},
                    {"content", Opt::Optional},
                    {"bwlimit", Opt::Optional},
                    {"mountpoint", Opt::Optional}},
    };
    return kInfo;
  }

  void on_add(StorageDef& def) const override {
    // Remember where the pool is mounted, so container paths need no zfs call.
    if (!def.str("mountpoint").empty()) return;
    try {
      auto l = block::lines(run_zfs(zfs::get_argv("mountpoint", pool(def))));
      if (!l.empty() && l[0].starts_with("/")) def.props["mountpoint"] = l[0];
    } catch (const Error&) {
    }
  }

  void activate(const StorageDef& def) const override {
    auto zpool = pool(def).substr(0, pool(def).find('/'));
    auto imported = [&] {
      CommandOptions opts;
      opts.check = false;
      auto res = run_command({"zpool", "list", "-o", "name", "-H", zpool}, opts);
      return res.exit_code == 0 && trim(res.out) == zpool;
    };
    if (!imported()) {
      CommandOptions opts;
      opts.timeout = std::chrono::seconds(60);
      opts.check = false;
      auto res = run_command({"zpool", "import", "-d", "/dev/disk/by-id/", "-o", "cachefile=none", zpool}, opts);
      if (!imported()) {
        throw Error("could not activate storage '" + def.id + "': " + std::string(trim(res.err)), 500);
      }
    }
    run_zfs({"zfs", "mount", "-a"});
  }

  StorageStatus status(const StorageDef& def) const override {
    StorageStatus st;
    try {
      auto stats = zfs::parse_pool_stats(run_zfs(zfs::get_argv("available,used", pool(def))));
      st.avail = stats.avail;
      st.used = stats.used;
      st.total = stats.avail + stats.used;
      st.active = true;
    } catch (const Error&) {
    }
    return st;
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(
        R"((((base|basevol)-(\d+)-[A-Za-z0-9+_.\-]+)/)?((base|basevol|vm|subvol)-(\d+)-[A-Za-z0-9+_.\-]+))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
      throw Error::param("volume", "unable to parse zfs volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = m[5].str();
    v.vmid = std::stoll(m[7].str());
    if (m[2].matched) {
      v.base_name = m[2].str();
      v.base_vmid = std::stoll(m[4].str());
    }
    auto kind = m[6].str();
    v.is_base = kind == "base" || kind == "basevol";
    v.format = (kind == "subvol" || kind == "basevol") ? "subvol" : "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    auto v = parse_volname(def, volname);
    std::string p = v.format == "subvol" ? mountpoint(def) + "/" + v.name : "/dev/zvol/" + pool(def) + "/" + v.name;
    if (!snapshot.empty()) {
      block::check_snapshot_name(snapshot);
      p += "@" + std::string(snapshot);
    }
    return p;
  }

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override {
    std::string fmt = format.empty() ? "raw" : format;
    if (fmt != "raw" && fmt != "subvol") throw Error::param("format", "unsupported format '" + fmt + "'");
    std::string prefix = fmt == "raw" ? "vm" : "subvol";
    std::string volname = name;
    if (volname.empty()) {
      volname = free_name(def, vmid, fmt);
    } else {
      block::check_owned_name(volname, prefix, vmid);
      parse_volname(def, volname);
    }
    if (fmt == "raw") {
      if (size_kib <= 0) throw Error::param("size", "size must be positive");
      run_zfs(zfs::create_zvol_argv(pool(def), volname, size_kib, def.flag("sparse"), def.str("blocksize")));
      wait_for_zvol(def, volname);
    } else {
      run_zfs(zfs::create_subvol_argv(pool(def), volname, size_kib));
    }
    return volname;
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    // A zvol just closed by QEMU may still be busy for a moment.
    for (int attempt = 0;; ++attempt) {
      CommandOptions opts;
      opts.check = false;
      auto res = run_command(zfs::destroy_argv(dataset(def, v.name), true), opts);
      if (res.exit_code == 0 || res.err.find("dataset does not exist") != std::string::npos) return;
      if (res.err.find("dataset is busy") == std::string::npos || attempt >= 5) {
        throw Error("zfs destroy of '" + dataset(def, v.name) + "' failed: " + std::string(trim(res.err)), 500);
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

  std::string create_base(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (v.is_base) throw Error::param("volume", "create_base not possible with base image");
    std::string base = v.format == "subvol" ? "basevol-" + v.name.substr(7) : "base-" + v.name.substr(3);
    run_zfs(zfs::rename_argv(dataset(def, v.name), dataset(def, base)));
    take_snapshot(def, base, v.format, std::string(kBaseSnap));
    return v.base_name.empty() ? base : v.base_name + "/" + base;
  }

  std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                          std::string_view snapshot) const override {
    auto v = parse_volname(def, base_volname);
    if (!v.is_base) throw Error::param("volume", "clone_image only works on base images");
    std::string snap = snapshot.empty() ? std::string(kBaseSnap) : std::string(snapshot);
    if (!snapshot.empty()) block::check_snapshot_name(snapshot);
    auto name = free_name(def, vmid, v.format);
    std::string refquota;
    if (v.format == "subvol") {
      auto l = block::lines(run_zfs(zfs::get_argv("refquota", dataset(def, v.name))));
      refquota = (l.empty() || l[0] == "0") ? "none" : l[0];
    }
    run_zfs(zfs::clone_argv(dataset(def, v.name) + "@" + snap, dataset(def, name), refquota));
    return v.name + "/" + name;
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    std::vector<VolumeInfo> out;
    if (!content.empty() && !content.count("images") && !content.count("rootdir")) return out;
    auto children = zfs::parse_children(run_zfs(zfs::list_children_argv(pool(def))), pool(def));
    for (const auto& c : children) {
      if (vmid != 0 && c.vmid != vmid) continue;
      VolumeInfo vi;
      std::string base;
      if (c.origin.ends_with("@" + std::string(kBaseSnap))) base = c.origin.substr(0, c.origin.find('@'));
      vi.volid = def.id + ":" + (base.empty() ? c.name : base + "/" + c.name);
      if (!base.empty()) vi.parent = def.id + ":" + base;
      vi.content = c.format == "subvol" ? "rootdir" : "images";
      vi.format = c.format;
      vi.size = c.size;
      vi.vmid = c.vmid;
      out.push_back(std::move(vi));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.volid < b.volid; });
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    std::string attr = v.format == "subvol" ? "refquota" : "volsize";
    auto l = block::lines(run_zfs(zfs::get_argv(attr + ",usedbydataset", dataset(def, v.name))));
    auto size = l.empty() ? std::nullopt : block::to_int(l[0]);
    if (!size) throw Error("could not get zfs volume size of '" + std::string(volname) + "'", 500);
    VolumeSize vs{.size = *size, .used = l.size() > 1 ? block::to_int(l[1]).value_or(0) : 0, .format = v.format};
    if (!v.base_name.empty()) vs.parent = v.base_name;
    return vs;
  }

  void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const override {
    auto v = parse_volname(def, volname);
    auto kib = (size_bytes + 1023) / 1024;
    if (v.format == "raw") kib = zfs::zvol_size_kib(kib);
    std::string attr = v.format == "subvol" ? "refquota" : "volsize";
    run_zfs(zfs::set_argv(attr + "=" + std::to_string(kib) + "k", dataset(def, v.name)));
  }

  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot) const override {
    static const std::vector<block::FeatureRow> kFeatures = {
        {Feature::Snapshot, {VolumeState::Current, VolumeState::Snap}},
        {Feature::Clone, {VolumeState::Base}},
        {Feature::Template, {VolumeState::Current}},
        {Feature::Copy, {VolumeState::Base, VolumeState::Current}},
        {Feature::SparseInit, {VolumeState::Base, VolumeState::Current}},
        {Feature::Rename, {VolumeState::Current}},
    };
    return block::feature_in(kFeatures, feature, block::volume_state(parse_volname(def, volname), snapshot));
  }

  void snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    take_snapshot(def, v.name, v.format, std::string(snap));
  }

  void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    // zfs only rolls back to the newest snapshot (without -r, which would destroy newer ones).
    auto snaps = zfs::parse_snapshot_names(run_zfs(zfs::snapshots_argv(dataset(def, v.name))));
    auto it = std::find(snaps.begin(), snaps.end(), std::string(snap));
    if (it == snaps.end()) {
      throw Error("can't rollback, snapshot '" + std::string(snap) + "' does not exist on '" + std::string(volname) + "'", 400);
    }
    if (it + 1 != snaps.end()) {
      throw Error("can't rollback, '" + std::string(snap) + "' is not most recent snapshot on '" + std::string(volname) + "'", 400);
    }
    run_zfs(zfs::rollback_argv(dataset(def, v.name), std::string(snap)));
    if (v.format == "subvol") {
      // The quota is not part of the snapshot: restore the one recorded when it was taken.
      auto l = block::lines(run_zfs(zfs::get_argv("pve-storage:refquota", dataset(def, v.name) + "@" + std::string(snap))));
      if (!l.empty() && block::to_int(l[0])) {
        run_zfs(zfs::set_argv("refquota=" + (l[0] == "0" ? std::string("none") : l[0]), dataset(def, v.name)));
      }
    }
  }

  void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    run_zfs(zfs::destroy_argv(dataset(def, v.name) + "@" + std::string(snap), false));
  }

  void activate_volume(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (v.format == "raw") {
      wait_for_zvol(def, v.name);
      return;
    }
    auto l = block::lines(run_zfs(zfs::get_argv("mounted", dataset(def, v.name))));
    if (l.empty() || l[0] != "yes") run_zfs({"zfs", "mount", dataset(def, v.name)});
  }

  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override {
    parse_volname(def, volname);
    return {"zfs"};
  }

  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override {
    if (format != "zfs") throw Error::param("format", "unsupported export stream format for zfspool: " + format);
    if (options.snapshot.empty()) throw Error::param("snapshot", "zfspool storage can only export snapshots");
    block::check_snapshot_name(options.snapshot);
    if (!options.base_snapshot.empty()) block::check_snapshot_name(options.base_snapshot);
    auto v = parse_volname(def, volname);
    CommandOptions opts;
    opts.stdout_fd = out_fd;
    opts.timeout = std::chrono::hours(24);
    run_command(zfs::send_argv(dataset(def, v.name), options.snapshot, options.base_snapshot, options.with_snapshots),
                opts);
  }

  std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format, int in_fd,
                            const TransferOptions& options) const override {
    if (format != "zfs") throw Error::param("format", "unsupported import stream format for zfspool: " + format);
    auto v = parse_volname(def, volname);
    std::string name = v.name;
    if (!options.base_snapshot.empty()) {
      block::check_snapshot_name(options.base_snapshot);
      if (!exists(dataset(def, name) + "@" + options.base_snapshot)) {
        throw Error("base snapshot '" + dataset(def, name) + "@" + options.base_snapshot + "' doesn't exist", 400);
      }
    } else if (exists(dataset(def, name))) {
      if (!options.allow_rename) throw Error("volume '" + dataset(def, name) + "' already exists", 400);
      name = free_name(def, v.vmid, v.format);
    }
    CommandOptions opts;
    opts.stdin_fd = in_fd;
    opts.timeout = std::chrono::hours(24);
    try {
      run_command(zfs::recv_argv(dataset(def, name)), opts);
    } catch (...) {
      CommandOptions quiet;
      quiet.check = false;
      if (!options.base_snapshot.empty()) {
        run_command({"zfs", "rollback", "-r", "--", dataset(def, name) + "@" + options.base_snapshot}, quiet);
      } else {
        run_command({"zfs", "destroy", "-r", "--", dataset(def, name)}, quiet);
      }
      throw;
    }
    return name;
  }

 private:
  static std::string pool(const StorageDef& def) {
    auto p = def.str("pool");
    if (p.empty()) throw Error::param("pool", "property is missing");
    return p;
  }
  static std::string mountpoint(const StorageDef& def) { return def.str("mountpoint", "/" + pool(def)); }
  static std::string dataset(const StorageDef& def, const std::string& name) { return pool(def) + "/" + name; }

  static bool exists(const std::string& dataset) {
    CommandOptions opts;
    opts.check = false;
    return run_command({"zfs", "get", "-H", "name", dataset}, opts).exit_code == 0;
  }

  static std::string free_name(const StorageDef& def, std::int64_t vmid, const std::string& format) {
    std::vector<std::string> names;
    for (auto& c : zfs::parse_children(run_zfs(zfs::list_children_argv(pool(def))), pool(def))) names.push_back(c.name);
    if (format == "subvol") return block::next_disk_name(names, vmid, "subvol", {"subvol", "basevol"});
    return block::next_disk_name(names, vmid, "vm", {"vm", "base"});
  }

  static void take_snapshot(const StorageDef& def, const std::string& name, const std::string& format,
                            const std::string& snap) {
    run_zfs(zfs::snapshot_argv(dataset(def, name), snap));
    if (format != "subvol") return;
    // Record the quota on the snapshot so a rollback can restore it.
    auto l = block::lines(run_zfs(zfs::get_argv("refquota", dataset(def, name))));
    if (!l.empty()) run_zfs(zfs::set_argv("pve-storage:refquota=" + l[0], dataset(def, name) + "@" + snap));
  }

  void wait_for_zvol(const StorageDef& def, const std::string& name) const {
    // udev creates the /dev/zvol link asynchronously after `zfs create`.
    std::string dev = "/dev/zvol/" + pool(def) + "/" + name;
    for (int i = 0; i < 10; ++i) {
      if (std::filesystem::exists(dev)) return;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    throw Error("timeout: no zvol device link for '" + name + "' found after 10 sec", 500);
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_zfspool() { return std::make_unique<ZfsPoolPlugin>(); }

}  // namespace pvx::storage::plugins
