// Storage type `rbd`: VM and container disks as Ceph RBD images "vm-<vmid>-disk-<n>" of one
// pool (and namespace). QEMU opens them through librbd ("rbd:..." paths), or, with `krbd`, as
// kernel block devices mapped on activation. Templates rename to "base-..." with a protected
// snapshot "__base__"; linked clones are RBD clones of it ("base-100-disk-0/vm-101-disk-0").
// The keyring of an external cluster (sensitive `keyring`) is written to
// <data_dir>/priv/ceph/<storage>.keyring, readable by root only, for the tools and QEMU.
#include <algorithm>
#include <regex>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/plugins.h"
#include "storage/plugins/rbd_commands.h"

namespace pvx::storage::plugins {
namespace {

using Opt = PluginInfo::Option;
using block::VolumeState;

constexpr std::string_view kBaseSnap = "__base__";

std::filesystem::path keyring_file(const StorageDef& def) {
  return block::host_of(def).data_dir / "priv" / "ceph" / (def.id + ".keyring");
}

// Builds the connection, writing the keyring file when the secret is set and the file differs.
rbd::Connection connection(const StorageDef& def) {
  rbd::Connection c;
  c.pool = def.str("pool", "rbd");
  c.ns = def.str("namespace");
  c.data_pool = def.str("data-pool");
  c.mons = rbd::split_monhost(def.str("monhost"));
  if (!def.str("username").empty()) c.user = def.str("username");
  auto secret = def.secrets.find("keyring");
  if (secret != def.secrets.end() && !secret->second.empty()) {
    auto file = keyring_file(def);
    if (read_file(file) != secret->second) {
      std::filesystem::create_directories(file.parent_path());
      write_file_atomic(file, secret->second, 0600);
    }
    c.keyring = file.string();
  }
  return c;
}

std::string run_rbd(const rbd::Connection& c, const std::vector<std::string>& args) {
  if (!command_exists("rbd")) throw Error("rbd not found - please install ceph-common", 500);
  return run_command(rbd::rbd_argv(c, args)).out;
}

class RbdPlugin : public StoragePlugin {
 public:
  const PluginInfo& info() const override {
    static const PluginInfo kInfo{
        .type = "rbd",
        .content = {"images", "rootdir"},
        .default_content = {"images"},
        .formats = {"raw"},
        .default_format = "raw",
        .shared = true,
        .sensitive = {"keyring"},
        .options = {{"nodes", Opt::Optional},
                    {"disable", Opt::Optional},
                    {"monhost", Opt::Optional},
                    {"pool", Opt::Optional},
                    {"data-pool", Opt::Optional},
                    {"namespace", Opt::Optional},
                    {"username", Opt::Optional},
                    {"content", Opt::Optional},
                    {"krbd", Opt::Optional},
                    {"keyring", Opt::Optional},
                    {"bwlimit", Opt::Optional}},
    };
    return kInfo;
  }

  void on_delete(const StorageDef& def) const override {
    std::error_code ec;
    if (def.host) std::filesystem::remove(keyring_file(def), ec);
  }

  void activate(const StorageDef&) const override {}

  StorageStatus status(const StorageDef& def) const override {
    StorageStatus st;
    auto c = connection(def);
    auto pool = c.data_pool.empty() ? c.pool : c.data_pool;
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(30);
    auto usage = rbd::parse_ceph_df(run_command(rbd::ceph_argv(c, {"df", "--format", "json"}), opts).out, pool);
    if (!usage) return st;
    st.used = usage->used;
    st.avail = usage->avail;
    st.total = usage->used + usage->avail;
    st.active = true;
    return st;
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    static const std::regex kVolname(R"(((base-(\d+)-[A-Za-z0-9+_.\-]+)/)?((base|vm)-(\d+)-[A-Za-z0-9+_.\-]+))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
      throw Error::param("volume", "unable to parse rbd volume name '" + std::string(volname) + "'");
    }
    VolumeName v;
    v.vtype = "images";
    v.name = m[4].str();
    v.vmid = std::stoll(m[6].str());
    if (m[2].matched) {
      v.base_name = m[2].str();
      v.base_vmid = std::stoll(m[3].str());
    }
    v.is_base = m[5] == "base";
    v.format = "raw";
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    auto v = parse_volname(def, volname);
    if (!snapshot.empty()) block::check_snapshot_name(snapshot);
    auto c = connection(def);
    if (def.flag("krbd")) return rbd::krbd_path(c, v.name, std::string(snapshot));
    return rbd::qemu_path(c, v.name, std::string(snapshot));
  }

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override {
    if (!format.empty() && format != "raw") throw Error::param("format", "unsupported format '" + format + "'");
    if (size_kib <= 0) throw Error::param("size", "size must be positive");
    auto c = connection(def);
    std::string volname = name;
    if (volname.empty()) {
      volname = free_name(c, vmid);
    } else {
      block::check_owned_name(volname, "vm", vmid);
      parse_volname(def, volname);
    }
    std::vector<std::string> args = {"create", "--image-format", "2", "--size", std::to_string((size_kib + 1023) / 1024)};
    if (!c.data_pool.empty()) args.insert(args.end(), {"--data-pool", c.data_pool});
    args.push_back(volname);
    run_rbd(c, args);
    return volname;
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    auto c = connection(def);
    for (const auto& s : rbd::parse_snap_ls(run_rbd(c, {"snap", "ls", v.name, "--format", "json"}))) {
      if (s.is_protected) run_rbd(c, {"snap", "unprotect", v.name, "--snap", s.name});
    }
    deactivate_volume(def, volname);
    run_rbd(c, {"snap", "purge", v.name});
    run_rbd(c, {"rm", v.name});
  }

  std::string create_base(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (v.is_base) throw Error::param("volume", "create_base not possible with base image");
    auto c = connection(def);
    auto info = rbd::parse_info(run_rbd(c, {"info", v.name, "--format", "json"}));
    if (info.size == 0) throw Error("rbd volume info on '" + v.name + "' failed", 500);
    if (info.format != 2) throw Error("rbd image must be at format V2", 400);
    std::string base = "base-" + v.name.substr(3);
    run_rbd(c, {"rename", rbd::image_spec(c, v.name), rbd::image_spec(c, base)});
    if (def.flag("krbd")) unmap(c, v.name, "");
    run_rbd(c, {"snap", "create", "--snap", std::string(kBaseSnap), base});
    run_rbd(c, {"snap", "protect", base, "--snap", std::string(kBaseSnap)});
    return v.base_name.empty() ? base : v.base_name + "/" + base;
  }

  std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                          std::string_view snapshot) const override {
    auto v = parse_volname(def, base_volname);
    if (!v.is_base && snapshot.empty()) {
      throw Error::param("volume", std::string(base_volname) + " is not a base image and no snapshot was given");
    }
    auto c = connection(def);
    std::string snap = snapshot.empty() ? std::string(kBaseSnap) : std::string(snapshot);
    if (!snapshot.empty()) {
      block::check_snapshot_name(snapshot);
      // Clones need a protected parent snapshot.
      auto info = rbd::parse_info(run_rbd(c, {"info", v.name, "--snap", snap, "--format", "json"}));
      if (!info.is_protected) run_rbd(c, {"snap", "protect", v.name, "--snap", snap});
    }
    auto name = free_name(c, vmid);
    std::vector<std::string> args = {"clone", rbd::image_spec(c, v.name), "--snap", snap};
    if (!c.data_pool.empty()) args.insert(args.end(), {"--data-pool", c.data_pool});
    args.push_back(rbd::image_spec(c, name));
    run_rbd(c, args);
    return snapshot.empty() ? v.name + "/" + name : name;
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    std::vector<VolumeInfo> out;
    if (!content.empty() && !content.count("images") && !content.count("rootdir")) return out;
    static const std::regex kBaseParent(R"((base-\d+-\S+)@__base__)");
    for (const auto& img : rbd::parse_ls(run_rbd(connection(def), {"ls", "-l", "--format", "json"}))) {
      if (vmid != 0 && img.vmid != vmid) continue;
      VolumeInfo vi;
      std::smatch m;
      if (std::regex_match(img.parent, m, kBaseParent)) {
        vi.volid = def.id + ":" + m[1].str() + "/" + img.name;
        vi.parent = def.id + ":" + m[1].str();
      } else {
        vi.volid = def.id + ":" + img.name;
      }
      vi.content = "images";
      vi.format = "raw";
      vi.size = img.size;
      vi.vmid = img.vmid;
      out.push_back(std::move(vi));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.volid < b.volid; });
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    auto c = connection(def);
    auto info = rbd::parse_info(run_rbd(c, {"info", v.name, "--format", "json"}));
    auto used = rbd::parse_du(run_rbd(c, {"du", v.name, "--format", "json"}), v.name);
    return VolumeSize{.size = info.size, .used = used.value_or(0), .format = "raw", .parent = info.parent};
  }

  void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const override {
    auto v = parse_volname(def, volname);
    constexpr std::int64_t kMiB = 1024 * 1024;
    // rbd refuses to shrink without --allow-shrink, which is what we want.
    run_rbd(connection(def), {"resize", "--size", std::to_string((size_bytes + kMiB - 1) / kMiB), v.name});
  }

  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot) const override {
    static const std::vector<block::FeatureRow> kFeatures = {
        {Feature::Snapshot, {VolumeState::Current, VolumeState::Snap}},
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
    run_rbd(connection(def), {"snap", "create", "--snap", std::string(snap), v.name});
  }

  void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    run_rbd(connection(def), {"snap", "rollback", "--snap", std::string(snap), v.name});
  }

  void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    block::check_snapshot_name(snap);
    auto c = connection(def);
    if (def.flag("krbd")) unmap(c, v.name, std::string(snap));
    auto info = rbd::parse_info(run_rbd(c, {"info", v.name, "--snap", std::string(snap), "--format", "json"}));
    if (info.is_protected) run_rbd(c, {"snap", "unprotect", v.name, "--snap", std::string(snap)});
    run_rbd(c, {"snap", "rm", "--snap", std::string(snap), v.name});
  }

  void activate_volume(const StorageDef& def, std::string_view volname) const override {
    if (!def.flag("krbd")) return;
    auto v = parse_volname(def, volname);
    auto c = connection(def);
    if (std::filesystem::exists(rbd::krbd_path(c, v.name, ""))) return;
    run_rbd(c, {"map", v.name});
  }

  void deactivate_volume(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    unmap(connection(def), v.name, "");
  }

 private:
  static void unmap(const rbd::Connection& c, const std::string& image, const std::string& snap) {
    auto dev = rbd::krbd_path(c, image, snap);
    if (std::filesystem::exists(dev)) run_rbd(c, {"unmap", dev});
  }

  static std::string free_name(const rbd::Connection& c, std::int64_t vmid) {
    std::vector<std::string> names;
    for (auto& img : rbd::parse_ls(run_rbd(c, {"ls", "-l", "--format", "json"}))) names.push_back(img.name);
    return block::next_disk_name(names, vmid, "vm", {"vm", "base"});
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_rbd() { return std::make_unique<RbdPlugin>(); }

}  // namespace pvx::storage::plugins
