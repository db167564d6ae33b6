// The cloud-init drive's volume: found in the config, allocated as PVE names it, and rewritten
// with a freshly generated ISO.
#include "guest/qemu/cloudinit_volume.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/storage_service.h"
#include "storage/volume_id.h"

namespace pvx::guest::qemu {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxSnippetSize = 1024 * 1024;

// A volume that does not exist yet answers volume_size with an error.
bool volume_exists(const storage::StoragePlugin& plugin, const storage::StorageDef& def, const std::string& volname) {
  try {
    return plugin.volume_size(def, volname).size > 0;
  } catch (const Error&) {
    return false;
  }
}

// qemu-img's option syntax doubles commas inside values.
std::string opt_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

// Writes the raw ISO into the volume, keeping the volume's format and size. A running VM holds
// its CD-ROM image open; locking is off for local files so the new content can go in before the
// medium is changed (as PVE rewrites it in place).
void write_image(const fs::path& iso, const std::string& path, const std::string& format) {
  std::vector<std::string> argv = {"qemu-img", "convert", "-n", "-f", "raw", iso.string()};
  if (!path.empty() && path[0] == '/') {
    struct stat st {};
    const bool block = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    argv.push_back("--target-image-opts");
    argv.push_back("driver=" + format + ",file.driver=" + (block ? "host_device" : "file") +
                   ",file.filename=" + opt_escape(path) + ",file.locking=off");
  } else {
    argv.insert(argv.end(), {"-O", format, path});
  }
  run_command(argv, CommandOptions{.timeout = std::chrono::seconds(120)});
}

}  // namespace

std::optional<Drive> find_cloudinit_drive(const ConfigSection& conf) {
  for (const auto& key : all_drive_keys()) {
    auto it = conf.values.find(key);
    if (it == conf.values.end()) continue;
    if (auto d = try_parse_drive(key, it->second); d && d->is_cloudinit()) return d;
  }
  return std::nullopt;
}

std::string alloc_cloudinit_volume(storage::StorageService& storage, std::int64_t vmid, const std::string& storeid,
                                   const std::string& format) {
  auto def = storage.get(storeid);
  const auto& plugin = storage.plugin(def);
  std::string name = "vm-" + std::to_string(vmid) + "-cloudinit";
  std::string fmt = format;
  if (def.props.contains("path")) {
    if (fmt.empty()) fmt = "qcow2";
    name += "." + fmt;
  } else if (fmt.empty()) {
    fmt = "raw";
  }
  storage.activate(def);
  auto volname = plugin.alloc_image(def, vmid, fmt, name, kCloudInitDiskSize / 1024);
  return storeid + ":" + volname;
}

SnippetReader storage_snippet_reader(storage::StorageService& storage) {
  return [&storage](const std::string& volid) {
    auto r = storage.resolve(volid, "cicustom");
    if (r.plugin->parse_volname(r.def, r.volname).vtype != "snippets") {
      throw Error(volid + " is not in the snippets directory");
    }
    storage.activate(r.def);
    const std::string path = r.plugin->path(r.def, r.volname);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("unable to open file '" + path + "' - " + std::strerror(errno));
    std::string data(kMaxSnippetSize + 1, '\0');
    f.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(f.gcount()));
    if (data.size() > kMaxSnippetSize) throw Error("file '" + path + "' too long - aborting");
    return data;
  };
}

std::optional<CloudInitImage> apply_cloudinit(storage::StorageService& storage, const VmPaths& paths,
                                              std::int64_t vmid, GuestConfig& config,
                                              const std::function<void(const std::string&)>& log,
                                              const std::optional<HostDns>& host_dns) {
  auto drive = find_cloudinit_drive(config.main);
  if (!drive) return std::nullopt;
  CloudInitImage image;
  image.drive_key = drive->key;

  auto files = generate_cloudinit(vmid, config.main, storage_snippet_reader(storage), host_dns);

  if (!drive->file.empty() && drive->file[0] == '/') {
    // A plain file outside any storage: the ISO itself.
    if (log) log("generating cloud-init ISO");
    make_cloudinit_iso(files, drive->file);
    image.volid = image.path = image.iso = drive->file;
    image.format = "raw";
  } else {
    auto id = storage::VolumeId::parse(drive->file, drive->key);
    if (id.volname == "cloudinit") {
      // Not allocated yet (a config written by hand): allocate as creation would have.
      id = storage::VolumeId::parse(alloc_cloudinit_volume(storage, vmid, id.storage, drive->opt("format")));
      drive->file = id.str();
      drive->opts.erase("format");
      drive->opts["media"] = "cdrom";
      config.main.values[drive->key] = print_drive(*drive);
      image.config_changed = true;
    }
    auto r = storage.resolve(id.str(), drive->key);
    storage.activate(r.def);
    auto vn = r.plugin->parse_volname(r.def, r.volname);
    if (!volume_exists(*r.plugin, r.def, r.volname)) {
      r.plugin->alloc_image(r.def, vmid, vn.format, vn.name, kCloudInitDiskSize / 1024);
    }
    r.plugin->activate_volume(r.def, r.volname);
    image.volid = id.str();
    image.path = r.plugin->path(r.def, r.volname);
    image.format = vn.format.empty() ? "raw" : vn.format;

    if (log) log("generating cloud-init ISO");
    const fs::path iso = paths.cloudinit_iso();
    make_cloudinit_iso(files, iso);
    try {
      write_image(iso, image.path, image.format);
    } catch (...) {
      std::error_code ec;
      fs::remove(iso, ec);
      throw;
    }
    image.iso = iso.string();
  }

  if (config.special.erase("cloudinit")) image.config_changed = true;
  return image;
}

}  // namespace pvx::guest::qemu
