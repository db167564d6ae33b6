#include "storage/file_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>
#include <thread>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/file_formats.h"
#include "storage/image_dir_cache.h"
#include "storage/qemu_img.h"
#include "storage/stream_util.h"
#include "storage/volume_id.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

struct Subdir {
  std::string_view vtype, dir;
};
// PVE's default directory per content type.
constexpr Subdir kSubdirs[] = {{"images", "images"},   {"rootdir", "images"}, {"iso", "template/iso"},
                               {"vztmpl", "template/cache"}, {"backup", "dump"}, {"snippets", "snippets"},
                               {"import", "import"}};

std::string_view default_subdir(std::string_view vtype) {
  for (const auto& s : kSubdirs) {
    if (s.vtype == vtype) return s.dir;
  }
  return {};
}

bool is_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t to_int(std::string_view s) { return std::stoll(std::string(s)); }

[[noreturn]] void bad_volname(std::string_view volname, std::string_view why = {}) {
  throw Error::param("volume", "unable to parse directory volume name '" + std::string(volname) + "'" +
                                   (why.empty() ? "" : " - " + std::string(why)));
}

std::int64_t mtime_of(const struct stat& st) { return static_cast<std::int64_t>(st.st_mtime); }

}  // namespace

// "<vm|base|subvol|basevol>-<vmid>-<rest>", rest of [A-Za-z0-9_.+-] not starting with a
// punctuation mark. Hand-written: listings check every file name.
bool is_valid_image_name(std::string_view name, std::int64_t vmid) {
  if (name.size() > 255 || name.find("..") != std::string_view::npos) return false;
  auto dash = name.find('-');
  if (dash == std::string_view::npos) return false;
  auto prefix = name.substr(0, dash);
  if (prefix != "vm" && prefix != "base" && prefix != "subvol" && prefix != "basevol") return false;
  auto rest = name.substr(dash + 1);
  auto dash2 = rest.find('-');
  if (dash2 == 0 || dash2 == std::string_view::npos || dash2 > 9) return false;
  auto id = rest.substr(0, dash2);
  if (!is_digits(id)) return false;
  auto tail = rest.substr(dash2 + 1);
  if (tail.empty() || !(std::isalnum(static_cast<unsigned char>(tail[0])) || tail[0] == '_')) return false;
  for (unsigned char c : tail) {
    if (!(std::isalnum(c) || c == '_' || c == '.' || c == '+' || c == '-')) return false;
  }
  return vmid == 0 || to_int(id) == vmid;
}

bool is_valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.' || name.find('/') != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
}

std::vector<std::pair<std::string, PluginInfo::Option>> file_storage_common_options() {
  using O = PluginInfo::Option;
  return {{"nodes", O::Optional},        {"shared", O::Optional},        {"disable", O::Optional},
          {"content", O::Optional},      {"format", O::Optional},        {"content-dirs", O::Optional},
          {"prune-backups", O::Optional}, {"max-protected-backups", O::Optional}, {"preallocation", O::Optional},
          {"bwlimit", O::Optional},      {"create-base-path", O::Optional}, {"create-subdirs", O::Optional},
          {"mkdir", O::Optional},        {"snapshot-as-volume-chain", O::Optional}};
}

// --- paths

std::optional<fs::path> FileStorage::content_dir(const StorageDef& def, std::string_view vtype) const {
  auto sub = default_subdir(vtype);
  if (sub.empty()) return std::nullopt;
  std::string override_dir;
  auto overrides = def.str("content-dirs");
  for (const auto& item : split_any(overrides, ",")) {
    auto eq = item.find('=');
    if (eq != std::string::npos && item.substr(0, eq) == vtype) override_dir = item.substr(eq + 1);
  }
  if (!override_dir.empty()) {
    while (!override_dir.empty() && override_dir.front() == '/') override_dir.erase(0, 1);
    return def.path() / override_dir;
  }
  return def.path() / std::string(sub);
}

fs::path FileStorage::image_dir(const StorageDef& def, std::int64_t vmid) const {
  return *content_dir(def, "images") / std::to_string(vmid);
}

void FileStorage::require_content(const StorageDef& def, std::string_view vtype) const {
  auto content = def.content();
  if (!content.count(std::string(vtype)) &&
      !(vtype == "images" && content.count("rootdir"))) {  // containers' raw disks are images on disk
    throw Error("storage '" + def.id + "' does not support content type '" + std::string(vtype) + "'", 400);
  }
}

VolumeName FileStorage::parse_volname(const StorageDef&, std::string_view volname) const {
  if (!is_safe_volname(volname)) bad_volname(volname);
  auto parts = split_any(volname, "/");
  VolumeName v;
  auto image = [&](std::string_view vmid, std::string_view name) {
    auto fmt = image_format_of(name);
    if (!is_digits(vmid) || !fmt || !is_valid_image_name(strip_image_suffix(name), to_int(vmid))) bad_volname(volname);
    v.vtype = *fmt == "subvol" ? "rootdir" : "images";
    v.vmid = to_int(vmid);
    v.name = std::string(name);
    v.format = *fmt;
    v.is_base = name.starts_with("base-") || name.starts_with("basevol-");
  };
  if (parts.size() == 4) {  // <basevmid>/<basename>/<vmid>/<name>: linked clone
    image(parts[2], parts[3]);
    if (!is_digits(parts[0]) || !image_format_of(parts[1]) || !parts[1].starts_with("base")) bad_volname(volname);
    v.base_vmid = to_int(parts[0]);
    v.base_name = parts[1];
    return v;
  }
  if (parts.size() != 2) bad_volname(volname);
  const auto& kind = parts[0];
  const auto& name = parts[1];
  if (is_digits(kind)) {
    image(kind, name);
    return v;
  }
  auto file = classify_file(kind, name);
  if (!file) bad_volname(volname, "unknown or misnamed content");
  v.vtype = file->vtype;
  v.name = name;
  v.format = file->format;
  v.vmid = file->vmid;
  return v;
}

fs::path FileStorage::file_of(const StorageDef& def, const VolumeName& v) const {
  if (v.vtype == "images" || v.vtype == "rootdir") return image_dir(def, v.vmid) / v.name;
  auto dir = content_dir(def, v.vtype);
  if (!dir) throw Error("storage '" + def.id + "' holds no " + v.vtype + " files", 400);
  return *dir / v.name;
}

std::string FileStorage::path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const {
  auto v = parse_volname(def, volname);
  if (!snapshot.empty() && v.format != "qcow2") unsupported(def, "snapshots of " + v.format + " volumes");
  // qcow2 internal snapshots are opened through the image itself, as in PVE.
  return file_of(def, v).string();
}

// --- lifecycle

void FileStorage::activate(const StorageDef& def) const {
  const fs::path base = def.path();
  if (base.empty() || !base.is_absolute()) throw Error("storage '" + def.id + "' has no absolute path", 400);
  auto mp = def.str("is_mountpoint", "no");
  if (mp != "no" && mp != "0" && mp != "off") {
    fs::path mount = (mp == "yes" || mp == "1" || mp == "on") ? base : fs::path(mp);
    struct stat self {}, parent {};
    if (::stat(mount.c_str(), &self) != 0 || ::stat(mount.parent_path().c_str(), &parent) != 0 ||
        self.st_dev == parent.st_dev) {
      throw Error("unable to activate storage '" + def.id + "' - directory is expected to be a mount point but is not mounted: '" +
                      mount.string() + "'",
                  500);
    }
  }
  const bool create_base = def.flag("create-base-path", def.flag("mkdir", true));
  std::error_code ec;
  if (!fs::is_directory(base, ec)) {
    if (!create_base) {
      throw Error("unable to activate storage '" + def.id + "' - directory '" + base.string() + "' does not exist", 500);
    }
    fs::create_directories(base, ec);
    if (ec) throw Error("unable to create storage path '" + base.string() + "': " + ec.message(), 500);
  }
  if (!def.flag("create-subdirs", def.flag("mkdir", true))) return;
  for (const auto& c : def.content()) {
    if (auto dir = content_dir(def, c)) {
      fs::create_directories(*dir, ec);
      if (ec) throw Error("unable to create '" + dir->string() + "': " + ec.message(), 500);
    }
  }
}

StorageStatus FileStorage::status(const StorageDef& def) const {
  struct statvfs st {};
  if (::statvfs(def.path().c_str(), &st) != 0) {
    throw Error("storage '" + def.id + "' is not available: " + def.path().string() + ": " + std::strerror(errno), 500);
  }
  StorageStatus s;
  s.total = static_cast<std::int64_t>(st.f_blocks) * static_cast<std::int64_t>(st.f_frsize);
  s.avail = static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  s.used = s.total - static_cast<std::int64_t>(st.f_bfree) * static_cast<std::int64_t>(st.f_frsize);
  s.active = true;
  return s;
}

// --- images

std::string FileStorage::find_free_diskname(const StorageDef& def, std::int64_t vmid, const std::string& format,
                                            bool add_suffix) const {
  std::set<std::string> used;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(image_dir(def, vmid), ec)) {
    used.insert(strip_image_suffix(e.path().filename().string()));
  }
  for (int n = 0; n < 100000; ++n) {
    std::string name = "vm-" + std::to_string(vmid) + "-disk-" + std::to_string(n);
    if (used.count(name)) continue;
    std::string base = "base-" + std::to_string(vmid) + "-disk-" + std::to_string(n);
    std::string subvol = "subvol-" + std::to_string(vmid) + "-disk-" + std::to_string(n);
    if (used.count(base) || used.count(subvol)) continue;
    return add_suffix && !format.empty() ? name + "." + format : name;
  }
  throw Error("unable to allocate an image name for VM " + std::to_string(vmid) + " in storage '" + def.id + "'");
}

std::string FileStorage::alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                                     const std::string& name, std::int64_t size_kib) const {
  const auto& formats = info().formats;
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    throw Error::param("format", "storage '" + def.id + "' does not support format '" + format + "'");
  }
  const fs::path dir = image_dir(def, vmid);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("unable to create '" + dir.string() + "': " + ec.message());

  const bool auto_name = name.empty();
  std::string preset = name;
  if (format == "subvol" && auto_name) preset.clear();
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::string file = auto_name ? find_free_diskname(def, vmid, format) : preset;
    if (auto_name && format == "subvol") file = "subvol" + file.substr(2);  // subvol-<vmid>-disk-N.subvol
    auto fmt = image_format_of(file);
    if (!fmt || !is_valid_image_name(strip_image_suffix(file), vmid)) {
      throw Error::param("filename", "illegal name '" + file + "' - should be 'vm-" + std::to_string(vmid) + "-*'");
    }
    if (*fmt != format) {
      throw Error::param("filename", "illegal name '" + file + "' - wrong extension for format ('" + *fmt + "' != '" +
                                         format + "')");
    }
    const fs::path target = dir / file;
    if (format == "subvol") {
      if (size_kib != 0) {
        throw Error::param("size", "storage '" + def.id + "' cannot limit the size of a directory volume; use size 0");
      }
      if (::mkdir(target.c_str(), 0755) != 0) {
        if (errno == EEXIST && auto_name) continue;
        throw Error("unable to create volume '" + target.string() + "': " + std::strerror(errno),
                    errno == EEXIST ? 400 : 500);
      }
      return std::to_string(vmid) + "/" + file;
    }
    // Claim the name atomically first: parallel allocations (50 clones at once) then never
    // pick the same name, and no lock is needed.
    int fd = ::open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) {
      if (errno == EEXIST && auto_name) continue;
      if (errno == EEXIST) throw Error("disk image '" + target.string() + "' already exists", 400);
      throw Error("unable to create '" + target.string() + "': " + std::strerror(errno));
    }
    ::close(fd);
    try {
      std::string prealloc = def.str("preallocation", format == "qcow2" ? "metadata" : "off");
      qemu_img::create(target, format, size_kib, prealloc);
    } catch (...) {
      fs::remove(target, ec);
      throw;
    }
    return std::to_string(vmid) + "/" + file;
  }
  throw Error("unable to allocate an image name for VM " + std::to_string(vmid) + " in storage '" + def.id + "'");
}

void FileStorage::free_image(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  fs::path file = file_of(def, v);
  std::error_code ec;
  if (v.vtype == "backup" && get_protected(def, volname)) {
    throw Error("backup '" + std::string(volname) + "' is protected", 400);
  }
  if (!fs::exists(fs::symlink_status(file, ec))) {
    throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
  }
  if (v.format == "subvol") {
    fs::remove_all(file, ec);
  } else {
    fs::remove(file, ec);
  }
  if (ec) throw Error("unable to delete '" + file.string() + "': " + ec.message());
  if (v.vtype == "backup") {
    // A backup's companions go with it.
    fs::remove(file.string() + ".notes", ec);
    fs::remove(file.string() + ".protected", ec);
    fs::remove(backup_log_name(file.string()), ec);
  }
  if (v.vtype == "images" || v.vtype == "rootdir") {
    fs::remove(file.parent_path(), ec);  // only succeeds when empty
  }
}

std::string FileStorage::create_base(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "images" && v.vtype != "rootdir") throw Error("create_base: '" + std::string(volname) + "' is not an image", 400);
  if (v.is_base) throw Error("volume '" + std::string(volname) + "' is already a base volume", 400);
  if (!v.base_name.empty()) throw Error("create_base not possible with a linked clone: '" + std::string(volname) + "'", 400);
  fs::path from = file_of(def, v);
  if (v.format == "qcow2" && !qemu_img::info(from, "qcow2").snapshots.empty()) {
    throw Error("create_base: volume '" + std::string(volname) + "' has snapshots", 400);
  }
  std::string new_name = "base" + v.name.substr(v.name.find('-'));
  if (v.format == "subvol") new_name = "basevol" + v.name.substr(v.name.find('-'));
  fs::path to = from.parent_path() / new_name;
  std::error_code ec;
  if (fs::exists(to, ec)) throw Error("base volume '" + to.string() + "' already exists", 400);
  fs::rename(from, to, ec);
  if (ec) throw Error("rename '" + from.string() + "' failed: " + ec.message());
  // Bases are shared by linked clones: keep them from being written.
  if (v.format != "subvol") ::chmod(to.c_str(), 0444);
  return std::to_string(v.vmid) + "/" + new_name;
}

std::string FileStorage::clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                                     std::string_view snapshot) const {
  auto v = parse_volname(def, base_volname);
  if (!v.is_base) throw Error("clone_image only works on base images: '" + std::string(base_volname) + "'", 400);
  if (!snapshot.empty()) throw Error("linked clones from a snapshot are not supported on storage '" + def.id + "'", 400);
  if (v.format == "subvol") unsupported(def, "linked clones of directory volumes");
  fs::path dir = image_dir(def, vmid);
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::string name = find_free_diskname(def, vmid, "qcow2");
    fs::path target = dir / name;
    int fd = ::open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      throw Error("unable to create '" + target.string() + "': " + std::strerror(errno));
    }
    ::close(fd);
    try {
      // The backing path is relative, so the storage may be mounted elsewhere on another node.
      qemu_img::create_linked(target, "../" + std::to_string(v.vmid) + "/" + v.name, v.format);
    } catch (...) {
      fs::remove(target, ec);
      throw;
    }
    return std::to_string(v.vmid) + "/" + v.name + "/" + std::to_string(vmid) + "/" + name;
  }
  throw Error("unable to allocate a clone name for VM " + std::to_string(vmid));
}

std::string FileStorage::copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                                    const std::string& target_name) const {
  auto v = parse_volname(def, volname);
  fs::path from = file_of(def, v);
  std::error_code ec;
  if (!fs::exists(from, ec)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
  if (v.vtype != "images" && v.vtype != "rootdir") {
    // Files (iso, templates, snippets, backups): a plain copy under the given name.
    if (!is_valid_file_name(target_name)) throw Error::param("target", "invalid file name '" + target_name + "'");
    fs::path to = from.parent_path() / target_name;
    if (fs::exists(to, ec)) throw Error("file '" + to.string() + "' already exists", 400);
    run_command({"cp", "--sparse=always", "--", from.string(), to.string() + ".tmp"}, {.timeout = std::chrono::hours(12)});
    fs::rename(to.string() + ".tmp", to, ec);
    if (ec) throw Error("rename failed: " + ec.message());
    return std::string(volname.substr(0, volname.find('/'))) + "/" + target_name;
  }
  if (v.format == "subvol") unsupported(def, "copying directory volumes");
  auto size = volume_size(def, volname);
  std::string new_vol = alloc_image(def, vmid, v.format, target_name, (size.size + 1023) / 1024);
  try {
    auto nv = parse_volname(def, new_vol);
    qemu_img::convert(from, v.format, file_of(def, nv), v.format);
  } catch (...) {
    try {
      free_image(def, new_vol);
    } catch (...) {
    }
    throw;
  }
  return new_vol;
}

// --- listing

std::vector<VolumeInfo> FileStorage::list_volumes(const StorageDef& def, const ContentSet& content,
                                                  std::int64_t vmid) const {
  std::vector<VolumeInfo> out;
  const ContentSet allowed = def.content();
  auto wanted = [&](const std::string& vtype) {
    if (!content.empty() && !content.count(vtype)) return false;
    return allowed.count(vtype) > 0;
  };
  std::error_code ec;
  const bool want_images = wanted("images") || wanted("rootdir");
  if (want_images) {
    fs::path images = *content_dir(def, "images");
    // POSIX directory streams and *at() calls: no path is walked twice, which is what makes a
    // listing of 10 000 volumes take milliseconds.
    auto scan_raw = [&](const fs::path& dir, std::int64_t owner, std::vector<VolumeInfo>& out) {
      DIR* d = ::opendir(dir.c_str());
      if (!d) return;
      const int dfd = ::dirfd(d);
      while (const dirent* e = ::readdir(d)) {
        std::string_view name(e->d_name);
        auto fmt = image_format_of(name);
        if (!fmt || !is_valid_image_name(strip_image_suffix(name), owner)) continue;
        std::string vtype = *fmt == "subvol" ? "rootdir" : "images";
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, 0) != 0) continue;
        VolumeInfo vi;
        vi.content = vtype;
        vi.format = *fmt;
        vi.vmid = owner;
        vi.ctime = mtime_of(st);
        std::string volname = std::to_string(owner) + "/" + std::string(name);
        if (*fmt == "subvol") {
          vi.size = 0;
        } else {
          auto header = read_image_header_at(dfd, e->d_name, dir / e->d_name, *fmt, st);
          vi.size = header.virtual_size;
          vi.used = static_cast<std::int64_t>(st.st_blocks) * 512;
          if (!header.backing_file.empty()) {
            // "../<basevmid>/<basename>": a linked clone of a base in this storage.
            auto b = split_any(header.backing_file, "/");
            if (b.size() == 3 && b[0] == ".." && is_digits(b[1])) {
              vi.parent = def.id + ":" + b[1] + "/" + b[2];
              volname = b[1] + "/" + b[2] + "/" + volname;
            }
          }
        }
        vi.volid = def.id + ":" + volname;
        out.push_back(std::move(vi));
      }
      ::closedir(d);
    };
    // On a local filesystem a directory's entries are kept until the kernel reports a change in
    // it; shared storage is always scanned (other nodes change it behind our back).
    const bool cached = !def.shared() && !info().shared && ImageDirCache::cacheable(images);
    auto scan_dir = [&](const fs::path& dir, std::int64_t owner, std::vector<VolumeInfo>& out) {
      auto collect = [&] {
        std::vector<VolumeInfo> all;
        scan_raw(dir, owner, all);
        return all;
      };
      auto found = cached ? ImageDirCache::instance().get(def.id, dir, collect) : collect();
      for (auto& v : found) {
        if (wanted(v.content)) out.push_back(std::move(v));
      }
    };
    if (vmid) {
      scan_dir(images / std::to_string(vmid), vmid, out);
    } else {
      if (DIR* d = ::opendir(images.c_str())) {
        std::vector<std::string> owners;
        while (const dirent* e = ::readdir(d)) {
          if ((e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) && is_digits(e->d_name)) owners.emplace_back(e->d_name);
        }
        ::closedir(d);
        // stat() dominates a large listing; the guests' directories are scanned in parallel.
        const std::size_t workers = std::min<std::size_t>(owners.size() / 16 + 1, 4);
        std::vector<std::vector<VolumeInfo>> parts(workers);
        std::vector<std::thread> threads;
        for (std::size_t w = 1; w < workers; ++w) {
          threads.emplace_back([&, w] {
            for (std::size_t i = w; i < owners.size(); i += workers) scan_dir(images / owners[i], to_int(owners[i]), parts[w]);
          });
        }
        for (std::size_t i = 0; i < owners.size(); i += workers) scan_dir(images / owners[i], to_int(owners[i]), parts[0]);
        for (auto& t : threads) t.join();
        for (auto& part : parts) std::move(part.begin(), part.end(), std::back_inserter(out));
      }
    }
  }
  for (std::string vtype : {"iso", "vztmpl", "backup", "snippets", "import"}) {
    if (!wanted(vtype)) continue;
    auto dir = content_dir(def, vtype);
    if (!dir) continue;
    for (const auto& e : fs::directory_iterator(*dir, ec)) {
      std::string name = e.path().filename().string();
      auto file = classify_file(vtype, name);
      if (!file) continue;
      if (vmid && file->vmid != vmid) continue;
      struct stat st {};
      if (::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      VolumeInfo vi;
      vi.volid = def.id + ":" + vtype + "/" + name;
      vi.content = vtype;
      vi.format = file->format;
      vi.size = st.st_size;
      vi.vmid = file->vmid;
      vi.ctime = file->ctime ? file->ctime : mtime_of(st);
      if (vtype == "backup") {
        vi.notes = first_line_of_file(e.path().string() + ".notes");
        vi.is_protected = ::access((e.path().string() + ".protected").c_str(), F_OK) == 0;
      }
      out.push_back(std::move(vi));
    }
  }
  std::sort(out.begin(), out.end(), [](const VolumeInfo& a, const VolumeInfo& b) { return a.volid < b.volid; });
  return out;
}

// --- size and features

VolumeSize FileStorage::volume_size(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  fs::path file = file_of(def, v);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
  }
  VolumeSize s;
  s.format = v.format;
  if (v.format == "subvol") return s;
  if (v.vtype != "images" && v.vtype != "rootdir") {
    s.size = st.st_size;
    s.used = static_cast<std::int64_t>(st.st_blocks) * 512;
    return s;
  }
  auto i = qemu_img::info(file, v.format);
  s.size = i.virtual_size;
  s.used = i.actual_size;
  s.parent = i.backing_file;
  return s;
}

void FileStorage::volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "images" && v.vtype != "rootdir") throw Error("volume '" + std::string(volname) + "' is not a disk", 400);
  if (v.format == "subvol") unsupported(def, "resizing directory volumes");
  if (v.is_base) throw Error("cannot resize base volume '" + std::string(volname) + "'", 400);
  auto current = volume_size(def, volname);
  if (size_bytes < current.size) throw Error::param("size", "shrinking disks is not supported");
  qemu_img::resize(file_of(def, v), v.format, size_bytes);
}

bool FileStorage::has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                              std::string_view snapshot) const {
  VolumeName v;
  try {
    v = parse_volname(def, volname);
  } catch (const Error&) {
    return false;
  }
  const bool image = v.format == "qcow2" || v.format == "raw" || v.format == "vmdk";
  const bool current = snapshot.empty() && !v.is_base;
  switch (feature) {
    case Feature::Snapshot: return v.format == "qcow2" && !v.is_base;
    case Feature::Clone: return v.is_base && image && snapshot.empty();
    case Feature::Template: return current && (image || v.format == "subvol");
    case Feature::Copy: return snapshot.empty() ? true : v.format == "qcow2";
    case Feature::SparseInit: return image && snapshot.empty();
    case Feature::Rename: return current && (image || v.format == "subvol");
  }
  return false;
}

// --- snapshots

void FileStorage::snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const {
  auto v = parse_volname(def, volname);
  if (v.format != "qcow2") unsupported(def, "snapshots of " + v.format + " volumes");
  qemu_img::snapshot_create(file_of(def, v), snap);
}

void FileStorage::snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const {
  auto v = parse_volname(def, volname);
  if (v.format != "qcow2") unsupported(def, "snapshots of " + v.format + " volumes");
  qemu_img::snapshot_apply(file_of(def, v), snap);
}

void FileStorage::snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const {
  auto v = parse_volname(def, volname);
  if (v.format != "qcow2") unsupported(def, "snapshots of " + v.format + " volumes");
  qemu_img::snapshot_delete(file_of(def, v), snap);
}

// --- transfer

std::vector<std::string> FileStorage::export_formats(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  if (v.format == "subvol") return {"tar+size"};
  if (v.format == "raw") return {"raw+size"};
  if (v.format == "qcow2") return {"qcow2+size", "raw+size"};
  if (v.format == "vmdk") return {"vmdk+size"};
  return {};
}

void FileStorage::volume_export(const StorageDef& def, std::string_view volname, const std::string& format,
                                int out_fd, const TransferOptions& options) const {
  auto v = parse_volname(def, volname);
  fs::path file = file_of(def, v);
  auto formats = export_formats(def, volname);
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    throw Error("volume '" + std::string(volname) + "' cannot be exported as '" + format + "'", 400);
  }
  if (!options.snapshot.empty() && !(format == "raw+size" && v.format == "qcow2")) {
    unsupported(def, "exporting snapshots as " + format);
  }
  if (format == "tar+size") {
    // The size of a tar stream is not known ahead: PVE writes 0 and the reader takes all.
    write_size_header(out_fd, 0);
    run_command({"tar", "--numeric-owner", "--xattrs", "--acls", "-C", file.string(), "-cpf", "-", "."},
                {.timeout = std::chrono::hours(24), .stdout_fd = out_fd});
    return;
  }
  if (format == "raw+size" && v.format == "qcow2") {
    // A raw view of a qcow2 (optionally of one snapshot) through a temporary raw file.
    auto size = qemu_img::info(file, "qcow2").virtual_size;
    fs::path tmp = file.parent_path() / (".export-" + v.name + ".raw");
    std::error_code ec;
    fs::remove(tmp, ec);
    qemu_img::create(tmp, "raw", (size + 1023) / 1024);
    try {
      qemu_img::convert(file, "qcow2", tmp, "raw", options.snapshot);
      Fd in(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
      write_size_header(out_fd, size);
      copy_bytes(in.get(), out_fd, size);
    } catch (...) {
      fs::remove(tmp, ec);
      throw;
    }
    fs::remove(tmp, ec);
    return;
  }
  Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw Error("unable to open '" + file.string() + "': " + std::strerror(errno));
  struct stat st {};
  ::fstat(in.get(), &st);
  write_size_header(out_fd, st.st_size);
  copy_bytes(in.get(), out_fd, st.st_size);
}

std::string FileStorage::volume_import(const StorageDef& def, std::string_view volname, const std::string& format,
                                       int in_fd, const TransferOptions& options) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "images" && v.vtype != "rootdir") throw Error("only disk volumes can be imported", 400);
  const std::string want_format = format == "tar+size" ? "subvol" : format.substr(0, format.find('+'));
  if (want_format != v.format || format.find("+size") == std::string::npos) {
    throw Error("cannot import format '" + format + "' into volume '" + std::string(volname) + "'", 400);
  }
  fs::path dir = image_dir(def, v.vmid);
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path target = dir / v.name;
  std::string result = std::to_string(v.vmid) + "/" + v.name;
  if (fs::exists(target, ec)) {
    if (!options.allow_rename) throw Error("volume '" + def.id + ":" + std::string(volname) + "' already exists", 400);
    std::string name = find_free_diskname(def, v.vmid, v.format);
    if (v.format == "subvol") name = "subvol" + name.substr(2);
    target = dir / name;
    result = std::to_string(v.vmid) + "/" + name;
  }
  std::int64_t size = read_size_header(in_fd);
  if (v.format == "subvol") {
    if (::mkdir(target.c_str(), 0755) != 0) throw Error("unable to create '" + target.string() + "': " + std::strerror(errno));
    try {
      run_command({"tar", "--numeric-owner", "--xattrs", "--acls", "-C", target.string(), "-xpf", "-"},
                  {.timeout = std::chrono::hours(24), .stdin_fd = in_fd});
    } catch (...) {
      fs::remove_all(target, ec);
      throw;
    }
    return result;
  }
  fs::path tmp = target.string() + ".tmp";
  {
    Fd out(::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640));
    if (out.get() < 0) throw Error("unable to create '" + tmp.string() + "': " + std::strerror(errno));
    try {
      copy_bytes(in_fd, out.get(), size);
      if (::fsync(out.get()) != 0) throw Error(std::string("fsync failed: ") + std::strerror(errno));
    } catch (...) {
      fs::remove(tmp, ec);
      throw;
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("unable to move the imported volume into place: " + ec.message());
  }
  return result;
}

// --- notes and protection (backups, as in PVE)

std::string FileStorage::get_notes(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "backup") return {};
  return read_file(file_of(def, v).string() + ".notes").value_or("");
}

void FileStorage::set_notes(const StorageDef& def, std::string_view volname, const std::string& notes) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "backup") unsupported(def, "notes on " + v.vtype + " volumes");
  fs::path file = file_of(def, v);
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
  if (notes.empty()) {
    fs::remove(file.string() + ".notes", ec);
    return;
  }
  write_file_atomic(file.string() + ".notes", notes, 0644);
}

bool FileStorage::get_protected(const StorageDef& def, std::string_view volname) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "backup") return false;
  return ::access((file_of(def, v).string() + ".protected").c_str(), F_OK) == 0;
}

void FileStorage::set_protected(const StorageDef& def, std::string_view volname, bool on) const {
  auto v = parse_volname(def, volname);
  if (v.vtype != "backup") unsupported(def, "protection of " + v.vtype + " volumes");
  fs::path file = file_of(def, v);
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error("volume '" + def.id + ":" + std::string(volname) + "' does not exist", 404);
  std::string marker = file.string() + ".protected";
  if (!on) {
    fs::remove(marker, ec);
    return;
  }
  int fd = ::open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("unable to protect '" + file.string() + "': " + std::strerror(errno));
  ::close(fd);
}

}  // namespace pvx::storage
