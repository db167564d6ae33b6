// BTRFS: a directory storage whose disks are btrfs subvolumes (PVE's BTRFSPlugin layout).
//
//   <vmid>/vm-<vmid>-disk-<n>.raw        -> images/<vmid>/vm-<vmid>-disk-<n>/disk.raw (subvolume per disk)
//   <vmid>/subvol-<vmid>-disk-<n>.subvol -> images/<vmid>/subvol-<vmid>-disk-<n>.subvol (the subvolume)
//   snapshot <s> of either               -> the same subvolume name + "@<s>", read-only
//
// Snapshots, templates (read-only subvolume), clones and copies (writable snapshots) are native
// btrfs operations; replication streams use `btrfs send/receive`. qcow2/vmdk files and the
// iso/vztmpl/backup/snippets/import content behave exactly as on a dir storage.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "storage/file_formats.h"
#include "storage/file_storage.h"
#include "storage/plugins/plugins.h"
#include "storage/qemu_img.h"
#include "storage/stream_util.h"

namespace pvx::storage {
namespace {

namespace fs = std::filesystem;

constexpr long kBtrfsMagic = 0x9123683E;
constexpr ino_t kFirstFreeObjectid = 256;  // the root directory inode of every subvolume
constexpr int kFsNocowFl = 0x00800000;
constexpr auto kLongTimeout = std::chrono::hours(24);

std::string errno_text() { return std::strerror(errno); }

void btrfs(std::vector<std::string> args, CommandOptions opts = {}) {
  args.insert(args.begin(), {"btrfs", "-q"});
  run_command(args, opts);
}

// Same test as btrfs-progs: a directory whose inode is the subvolume root.
bool is_subvolume(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == kFirstFreeObjectid;
}

void assert_btrfs(const StorageDef& def) {
  struct statfs st {};
  if (::statfs(def.path().c_str(), &st) != 0)
    throw Error("storage '" + def.id + "': statfs on '" + def.path().string() + "' failed: " + errno_text(), 500);
  if (static_cast<long>(st.f_type) != kBtrfsMagic)
    throw Error("storage '" + def.id + "': '" + def.path().string() + "' is not a btrfs file system", 500);
}

void check_snapname(std::string_view snap) {
  static const std::regex re(R"(^[A-Za-z][A-Za-z0-9_-]{0,39}$)");
  if (!std::regex_match(std::string(snap), re)) throw Error::param("snapname", "invalid snapshot name '" + std::string(snap) + "'");
}

bool native(const VolumeName& v) {
  return (v.vtype == "images" || v.vtype == "rootdir") && v.base_name.empty() &&
         (v.format == "raw" || v.format == "subvol");
}

class BtrfsStorage final : public FileStorage {
 public:
  BtrfsStorage() {
    using O = PluginInfo::Option;
    info_.type = "btrfs";
    info_.content = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"};
    info_.default_content = {"images", "rootdir"};
    info_.formats = {"raw", "subvol"};
    info_.default_format = "raw";
    info_.file_based = true;
    info_.options = file_storage_common_options();
    for (auto [key, opt] : std::vector<std::pair<std::string, O>>{
             {"path", O::FixedRequired}, {"is_mountpoint", O::Optional}, {"nocow", O::Optional}}) {
      info_.options.emplace_back(key, opt);
    }
    std::erase_if(info_.options, [](const auto& o) { return o.first == "snapshot-as-volume-chain"; });
  }

  const PluginInfo& info() const override { return info_; }

  void activate(const StorageDef& def) const override {
    std::error_code ec;
    // Check before creating content directories on whatever filesystem happens to be there.
    if (fs::is_directory(def.path(), ec) && def.str("is_mountpoint", "no") == "no") assert_btrfs(def);
    FileStorage::activate(def);
    assert_btrfs(def);
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::path(def, volname, snapshot);
    if (!snapshot.empty()) check_snapname(snapshot);
    fs::path sv = subvol_of(def, v, snapshot);
    return (v.format == "raw" ? sv / "disk.raw" : sv).string();
  }

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override {
    if (format != "raw" && format != "subvol") return FileStorage::alloc_image(def, vmid, format, name, size_kib);
    if (format == "subvol" && size_kib != 0)
      // send/receive drop qgroup limits, so sized subvolumes are refused as in PVE.
      throw Error::param("size", "btrfs quotas are currently not supported, use an unsized subvolume or a raw file");
    if (size_kib < 0) throw Error::param("size", "negative size");
    const fs::path dir = image_dir(def, vmid);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("unable to create '" + dir.string() + "': " + ec.message());
    std::string file = name.empty() ? free_name(def, vmid, format) : name;
    check_new_name(file, vmid, format);
    auto v = parse_volname(def, std::to_string(vmid) + "/" + file);
    const fs::path sv = subvol_of(def, v, {});
    if (fs::exists(fs::symlink_status(sv, ec))) throw Error("disk image '" + sv.string() + "' already exists", 400);
    btrfs({"subvolume", "create", "--", sv.string()});
    if (format == "raw") {
      try {
        create_raw(def, sv / "disk.raw", size_kib * 1024);
      } catch (...) {
        delete_subvolumes({sv});
        throw;
      }
    }
    return std::to_string(vmid) + "/" + file;
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::free_image(def, volname);
    const fs::path sv = subvol_of(def, v, {});
    if (!is_subvolume(sv)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
    std::vector<fs::path> doomed;
    for (const auto& snap : snapshots_of(sv)) doomed.push_back(fs::path(sv.string() + "@" + snap));
    doomed.push_back(sv);
    delete_subvolumes(doomed);
    std::error_code ec;
    fs::remove(sv.parent_path(), ec);  // the guest's directory, once its last disk is gone
  }

  std::string create_base(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::create_base(def, volname);
    if (v.is_base) throw Error("volume '" + std::string(volname) + "' is already a base volume", 400);
    // PVE's naming: vm-* becomes base-*, a container's subvol-* keeps its name and turns read-only.
    std::string new_name = v.name.starts_with("vm-") ? "base-" + v.name.substr(3) : v.name;
    const std::string new_volname = std::to_string(v.vmid) + "/" + new_name;
    const fs::path from = subvol_of(def, v, {});
    const fs::path to = subvol_of(def, parse_volname(def, new_volname), {});
    if (!is_subvolume(from)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
    if (from != to) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(to, ec))) throw Error("base volume '" + to.string() + "' already exists", 400);
      fs::rename(from, to, ec);
      if (ec) throw Error("rename '" + from.string() + "' to '" + to.string() + "' failed: " + ec.message());
    }
    btrfs({"property", "set", to.string(), "ro", "true"});
    return new_volname;
  }

  std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                          std::string_view snapshot) const override {
    auto v = parse_volname(def, base_volname);
    if (!native(v)) return FileStorage::clone_image(def, base_volname, vmid, snapshot);
    if (!snapshot.empty()) check_snapname(snapshot);
    // A writable snapshot is a full, independent volume: no "<base>/<clone>" volname as on dir.
    return snapshot_to_new(def, v, snapshot, vmid, {});
  }

  std::string copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                         const std::string& target_name) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::copy_image(def, volname, vmid, target_name);
    return snapshot_to_new(def, v, {}, vmid, target_name);
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    const ContentSet allowed = def.content();
    auto wanted = [&](const std::string& vtype) {
      return allowed.count(vtype) && (content.empty() || content.count(vtype));
    };
    std::vector<VolumeInfo> out;
    ContentSet files;
    for (auto vt : kContentTypes) {
      std::string t(vt);
      if (t != "images" && t != "rootdir" && wanted(t)) files.insert(t);
    }
    if (!files.empty()) out = FileStorage::list_volumes(def, files, vmid);
    if (wanted("images") || wanted("rootdir")) list_images(def, vmid, wanted, out);
    std::sort(out.begin(), out.end(), [](const VolumeInfo& a, const VolumeInfo& b) { return a.volid < b.volid; });
    return out;
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::volume_size(def, volname);
    const fs::path sv = subvol_of(def, v, {});
    VolumeSize s;
    s.format = v.format;
    if (v.format == "subvol") {
      if (!is_subvolume(sv)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
      return s;  // no quotas: the size of a subvolume is not tracked, as in PVE
    }
    struct stat st {};
    if (::stat((sv / "disk.raw").c_str(), &st) != 0)
      throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
    s.size = st.st_size;
    s.used = static_cast<std::int64_t>(st.st_blocks) * 512;
    return s;
  }

  void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::volume_resize(def, volname, size_bytes);
    if (v.format == "subvol")
      throw Error("cannot resize subvolume - btrfs quotas are currently not supported", 400);
    if (v.is_base) throw Error("cannot resize base volume '" + std::string(volname) + "'", 400);
    auto current = volume_size(def, volname);
    if (size_bytes < current.size) throw Error::param("size", "shrinking disks is not supported");
    qemu_img::resize(subvol_of(def, v, {}) / "disk.raw", "raw", size_bytes);
  }

  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot) const override {
    VolumeName v;
    try {
      v = parse_volname(def, volname);
    } catch (const Error&) {
      return false;
    }
    // PVE's BTRFS feature table, keyed by snap / base / current.
    const std::string& f = v.format;
    auto any = [&](std::initializer_list<const char*> fmts) {
      return std::any_of(fmts.begin(), fmts.end(), [&](const char* x) { return f == x; });
    };
    const bool snap = !snapshot.empty();
    const bool base = !snap && v.is_base;
    const bool current = !snap && !v.is_base;
    switch (feature) {
      case Feature::Snapshot: return (current || snap) && any({"qcow2", "raw", "subvol"});
      case Feature::Clone:
        return (base && any({"qcow2", "raw", "subvol", "vmdk"})) || ((current || snap) && f == "raw");
      case Feature::Template: return current && any({"qcow2", "raw", "vmdk", "subvol"});
      case Feature::Copy: return snap ? any({"qcow2", "raw", "subvol"}) : any({"qcow2", "raw", "subvol", "vmdk"});
      case Feature::SparseInit: return !snap && any({"qcow2", "raw", "vmdk"});
      case Feature::Rename: return current && any({"qcow2", "raw", "vmdk"});
    }
    return false;
  }

  void snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::snapshot_create(def, volname, snap);
    check_snapname(snap);
    const fs::path sv = subvol_of(def, v, {});
    if (!is_subvolume(sv)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
    btrfs({"subvolume", "snapshot", "-r", "--", sv.string(), subvol_of(def, v, snap).string()});
  }

  void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::snapshot_rollback(def, volname, snap);
    check_snapname(snap);
    const fs::path sv = subvol_of(def, v, {});
    const fs::path snap_sv = subvol_of(def, v, snap);
    if (!is_subvolume(snap_sv)) throw Error("snapshot '" + std::string(snap) + "' of '" + std::string(volname) + "' does not exist", 404);
    // Build the rolled-back state beside the volume, then swap the two atomically: the volume is
    // never missing, even if the swap fails.
    const fs::path tmp = sv.string() + ".tmp." + std::to_string(::getpid());
    btrfs({"subvolume", "snapshot", "--", snap_sv.string(), tmp.string()});
    int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, sv.c_str(), RENAME_EXCHANGE);
    int saved = errno;
    try {
      delete_subvolumes({tmp});
    } catch (const Error&) {
      // Leftover "<name>.tmp.<pid>" is ignored by listings; the rollback result matters more.
    }
    if (rc != 0) throw Error("failed to rotate '" + tmp.string() + "' into place at '" + sv.string() + "': " + std::strerror(saved));
  }

  void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::snapshot_delete(def, volname, snap);
    check_snapname(snap);
    const fs::path snap_sv = subvol_of(def, v, snap);
    if (!is_subvolume(snap_sv)) throw Error("snapshot '" + std::string(snap) + "' of '" + std::string(volname) + "' does not exist", 404);
    delete_subvolumes({snap_sv});
  }

  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::export_formats(def, volname);
    // "btrfs" needs a snapshot to send; the interface gives none here, volume_export checks.
    return {"btrfs", v.format == "raw" ? "raw+size" : "tar+size"};
  }

  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::volume_export(def, volname, format, out_fd, options);
    if (!options.snapshot.empty()) check_snapname(options.snapshot);
    const fs::path sv = subvol_of(def, v, {});
    const fs::path src = subvol_of(def, v, options.snapshot);
    if (!is_subvolume(src)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' (snapshot '" + options.snapshot + "') does not exist", 404);
    if (format == "btrfs") {
      if (options.snapshot.empty()) throw Error("format 'btrfs' only works on snapshots", 400);
      if (!options.base_snapshot.empty() && options.with_snapshots)
        throw Error("'btrfs' format in incremental mode requires snapshots to be listed explicitly", 400);
      std::vector<std::string> argv{"send", "-e"};
      if (!options.base_snapshot.empty()) {
        check_snapname(options.base_snapshot);
        argv.insert(argv.end(), {"-p", subvol_of(def, v, options.base_snapshot).string()});
      }
      argv.push_back("--");
      if (options.with_snapshots)
        for (const auto& s : snapshots_of(sv))
          if (s != options.snapshot) argv.push_back(sv.string() + "@" + s);
      argv.push_back(src.string());
      btrfs(argv, {.timeout = kLongTimeout, .stdout_fd = out_fd});
      return;
    }
    if (format == "raw+size" && v.format == "raw") {
      Fd in(::open((src / "disk.raw").c_str(), O_RDONLY | O_CLOEXEC));
      if (in.get() < 0) throw Error("unable to open '" + (src / "disk.raw").string() + "': " + errno_text());
      struct stat st {};
      ::fstat(in.get(), &st);
      write_size_header(out_fd, st.st_size);
      copy_bytes(in.get(), out_fd, st.st_size, false);
      return;
    }
    if (format == "tar+size" && v.format == "subvol") {
      write_size_header(out_fd, 0);  // a tar stream's size is not known ahead; the reader takes all
      run_command({"tar", "--numeric-owner", "--xattrs", "--acls", "--sparse", "-C", src.string(), "-cpf", "-", "."},
                  {.timeout = kLongTimeout, .stdout_fd = out_fd});
      return;
    }
    throw Error("volume '" + std::string(volname) + "' cannot be exported as '" + format + "'", 400);
  }

  std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format, int in_fd,
                            const TransferOptions& options) const override {
    auto v = parse_volname(def, volname);
    if (!native(v)) return FileStorage::volume_import(def, volname, format, in_fd, options);
    if (format == "btrfs") return receive(def, v, in_fd, options);
    const bool raw = format == "raw+size" && v.format == "raw";
    const bool tar = format == "tar+size" && v.format == "subvol";
    if (!raw && !tar) throw Error("cannot import format '" + format + "' into volume '" + std::string(volname) + "'", 400);
    std::string name = v.name;
    if (is_subvolume(subvol_of(def, v, {}))) {
      if (!options.allow_rename) throw Error("volume '" + def.id + ":" + std::string(volname) + "' already exists", 400);
      name.clear();
    }
    const std::int64_t size = read_size_header(in_fd);
    std::string created = alloc_image(def, v.vmid, v.format, name, raw ? (size + 1023) / 1024 : 0);
    try {
      auto nv = parse_volname(def, created);
      const fs::path sv = subvol_of(def, nv, {});
      if (raw) {
        Fd out(::open((sv / "disk.raw").c_str(), O_WRONLY | O_CLOEXEC));
        if (out.get() < 0) throw Error("unable to open '" + (sv / "disk.raw").string() + "': " + errno_text());
        copy_bytes(in_fd, out.get(), size, true);
        if (::ftruncate(out.get(), static_cast<off_t>(size)) != 0 || ::fsync(out.get()) != 0)
          throw Error("unable to finish '" + (sv / "disk.raw").string() + "': " + errno_text());
      } else {
        run_command({"tar", "--numeric-owner", "--xattrs", "--acls", "-C", sv.string(), "-xpf", "-"},
                    {.timeout = kLongTimeout, .stdin_fd = in_fd});
      }
    } catch (...) {
      try {
        free_image(def, created);
      } catch (const Error&) {
      }
      throw;
    }
    return created;
  }

 private:
  // The subvolume holding a raw/subvol volume, or its snapshot "<subvolume>@<snap>".
  fs::path subvol_of(const StorageDef& def, const VolumeName& v, std::string_view snap) const {
    std::string dir = v.format == "raw" ? strip_image_suffix(v.name) : v.name;
    if (!snap.empty()) dir += "@" + std::string(snap);
    return image_dir(def, v.vmid) / dir;
  }

  std::string free_name(const StorageDef& def, std::int64_t vmid, const std::string& format) const {
    std::string name = find_free_diskname(def, vmid, format);
    if (format == "subvol") name = "subvol" + name.substr(2);
    return name;
  }

  static void check_new_name(const std::string& file, std::int64_t vmid, const std::string& format) {
    auto fmt = image_format_of(file);
    if (!fmt || !is_valid_image_name(strip_image_suffix(file), vmid))
      throw Error::param("filename", "illegal name '" + file + "' - should be 'vm-" + std::to_string(vmid) + "-*'");
    if (*fmt != format)
      throw Error::param("filename", "illegal name '" + file + "' - wrong extension for format ('" + *fmt + "' != '" + format + "')");
  }

  static void create_raw(const StorageDef& def, const fs::path& file, std::int64_t size) {
    Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (fd.get() < 0) throw Error("failed to create raw file '" + file.string() + "': " + errno_text());
    if (def.flag("nocow")) {
      // NOCOW only takes effect on an empty file, so set it before the size.
      int flags = 0;
      if (::ioctl(fd.get(), _IOR('f', 1, long), &flags) != 0) throw Error("FS_IOC_GETFLAGS failed: " + errno_text());
      flags |= kFsNocowFl;
      if (::ioctl(fd.get(), _IOW('f', 2, long), &flags) != 0) throw Error("FS_IOC_SETFLAGS failed: " + errno_text());
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
      throw Error("failed to set file size for '" + file.string() + "': " + errno_text());
  }

  static void delete_subvolumes(const std::vector<fs::path>& subvols) {
    std::vector<std::string> argv{"subvolume", "delete", "--"};
    for (const auto& s : subvols) argv.push_back(s.string());
    btrfs(argv);
  }

  // Names of the snapshots "<subvol>@<name>" beside a subvolume.
  static std::vector<std::string> snapshots_of(const fs::path& sv) {
    std::vector<std::string> out;
    const std::string prefix = sv.filename().string() + "@";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(sv.parent_path(), ec)) {
      std::string name = e.path().filename().string();
      if (name.size() > prefix.size() && name.starts_with(prefix) && is_subvolume(e.path()))
        out.push_back(name.substr(prefix.size()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string snapshot_to_new(const StorageDef& def, const VolumeName& v, std::string_view snap, std::int64_t vmid,
                              const std::string& target_name) const {
    const fs::path source = subvol_of(def, v, snap);
    if (!is_subvolume(source)) throw Error("volume '" + def.id + ":" + std::to_string(v.vmid) + "/" + v.name + "' does not exist", 404);
    const fs::path dir = image_dir(def, vmid);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("unable to create '" + dir.string() + "': " + ec.message());
    std::string name = target_name.empty() ? free_name(def, vmid, v.format) : target_name;
    check_new_name(name, vmid, v.format);
    const std::string volname = std::to_string(vmid) + "/" + name;
    const fs::path target = subvol_of(def, parse_volname(def, volname), {});
    if (fs::exists(fs::symlink_status(target, ec))) throw Error("disk image '" + target.string() + "' already exists", 400);
    btrfs({"subvolume", "snapshot", "--", source.string(), target.string()});
    return volname;
  }

  template <typename Wanted>
  void list_images(const StorageDef& def, std::int64_t vmid, const Wanted& wanted, std::vector<VolumeInfo>& out) const {
    const fs::path images = *content_dir(def, "images");
    std::error_code ec;
    std::vector<std::pair<std::int64_t, fs::path>> dirs;
    if (vmid) {
      dirs.emplace_back(vmid, images / std::to_string(vmid));
    } else {
      for (const auto& e : fs::directory_iterator(images, ec)) {
        auto n = e.path().filename().string();
        if (!n.empty() && n.size() < 10 && std::all_of(n.begin(), n.end(), ::isdigit) && e.is_directory(ec))
          dirs.emplace_back(std::stoll(n), e.path());
      }
    }
    for (const auto& [owner, dir] : dirs) {
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.find('@') != std::string::npos) continue;  // snapshots
        std::string volname;
        if (name.find('.') == std::string::npos) {
          if (!is_subvolume(e.path()) || !fs::exists(e.path() / "disk.raw", ec)) continue;
          volname = std::to_string(owner) + "/" + name + ".raw";
        } else {
          auto fmt = image_format_of(name);
          if (!fmt || *fmt == "raw") continue;  // raw files are not btrfs volumes; ".tmp.<pid>" leftovers
          if (*fmt == "subvol" && !is_subvolume(e.path())) continue;
          volname = std::to_string(owner) + "/" + name;
        }
        VolumeName v;
        try {
          v = parse_volname(def, volname);
        } catch (const Error&) {
          continue;
        }
        if (!wanted(v.vtype)) continue;
        VolumeInfo vi;
        vi.volid = def.id + ":" + volname;
        vi.content = v.vtype;
        vi.format = v.format;
        vi.vmid = owner;
        try {
          auto size = volume_size(def, volname);
          vi.size = size.size;
          if (v.format != "subvol") vi.used = size.used;
        } catch (const Error&) {
          continue;  // vanished or unreadable meanwhile
        }
        struct stat st {};
        if (::stat(e.path().c_str(), &st) == 0) vi.ctime = static_cast<std::int64_t>(st.st_ctime);
        out.push_back(std::move(vi));
      }
    }
  }

  std::string receive(const StorageDef& def, const VolumeName& v, int in_fd, const TransferOptions& options) const;

  PluginInfo info_;
};

// `btrfs receive` into a private directory, then move the received snapshots into place: the
// newest ("options.snapshot") also becomes the writable current state.
std::string BtrfsStorage::receive(const StorageDef& def, const VolumeName& v, int in_fd,
                                  const TransferOptions& options) const {
  if (options.snapshot.empty()) throw Error("format 'btrfs' only works on snapshots", 400);
  check_snapname(options.snapshot);
  if (!options.base_snapshot.empty()) {
    check_snapname(options.base_snapshot);
    fs::path base = subvol_of(def, v, options.base_snapshot);
    if (!is_subvolume(base))
      throw Error("base snapshot '" + options.base_snapshot + "' not found - no such directory '" + base.string() + "'", 400);
  }
  std::string name = v.name;
  fs::path destination = subvol_of(def, v, {});
  std::error_code ec;
  if (options.base_snapshot.empty() && fs::exists(fs::symlink_status(destination, ec))) {
    if (!options.allow_rename) throw Error("volume '" + def.id + ":" + std::to_string(v.vmid) + "/" + v.name + "' already exists", 400);
    name = free_name(def, v.vmid, v.format);
    destination = subvol_of(def, parse_volname(def, std::to_string(v.vmid) + "/" + name), {});
  }
  const fs::path dir = image_dir(def, v.vmid);
  fs::create_directories(dir, ec);
  const fs::path tmp = dir / ("recv." + std::to_string(v.vmid) + ".tmp");
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    if (errno == EEXIST)
      throw Error("temp receive directory already exists at '" + tmp.string() + "', incomplete concurrent import?", 409);
    throw Error("failed to create temporary receive directory at '" + tmp.string() + "': " + errno_text());
  }
  static const std::regex snapshot_re(R"(^((?:vm|base|subvol)-\d+-disk-\d+(?:\.subvol)?)@([A-Za-z][A-Za-z0-9_-]*)$)");
  auto cleanup = [&] {
    std::vector<fs::path> left;
    for (const auto& e : fs::directory_iterator(tmp, ec)) left.push_back(e.path());
    if (!left.empty()) {
      try {
        delete_subvolumes(left);
      } catch (const Error&) {
      }
    }
    fs::remove(tmp, ec);
  };
  try {
    btrfs({"receive", "-e", "--", tmp.string()}, {.timeout = kLongTimeout, .stdin_fd = in_fd});
    std::string disk;
    std::vector<std::string> others;
    bool found = false;
    for (const auto& e : fs::directory_iterator(tmp)) {
      std::string entry = e.path().filename().string();
      std::smatch m;
      if (!std::regex_match(entry, m, snapshot_re)) throw Error("send stream included a non-snapshot subvolume '" + entry + "'", 400);
      if (disk.empty()) disk = m[1];
      else if (disk != m[1]) throw Error("multiple disks contained in stream ('" + disk + "' vs '" + m[1].str() + "')", 400);
      if (m[2] == options.snapshot) found = true;
      else others.push_back(m[2]);
    }
    if (!found) throw Error("send stream did not contain the expected current snapshot '" + options.snapshot + "'", 400);
    auto place = [&](const std::string& snap, const fs::path& to) {
      const fs::path from = tmp / (disk + "@" + snap);
      // Read-only subvolumes cannot move between directories.
      btrfs({"property", "set", "-f", from.string(), "ro", "false"});
      if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
        throw Error("failed to move received snapshot '" + from.string() + "' into place at '" + to.string() + "': " + errno_text());
    };
    place(options.snapshot, destination);
    btrfs({"subvolume", "snapshot", "-r", "--", destination.string(), destination.string() + "@" + options.snapshot});
    for (const auto& snap : others) {
      fs::path to = destination.string() + "@" + snap;
      place(snap, to);
      btrfs({"property", "set", to.string(), "ro", "true"});
    }
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return std::to_string(v.vmid) + "/" + name;
}

}  // namespace

namespace plugins {
std::unique_ptr<StoragePlugin> make_btrfs() { return std::make_unique<BtrfsStorage>(); }
}  // namespace plugins

}  // namespace pvx::storage
