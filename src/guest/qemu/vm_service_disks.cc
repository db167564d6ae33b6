// New disks of a VM as PVE allocates them from "<storage>:<GiB>" requests: empty images, images
// imported from another volume or file (`import-from`), EFI vars disks filled from the OVMF
// template, TPM state disks; and freeing volumes again.
#include <cmath>
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "base/error.h"
#include "base/log.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_service.h"
#include "storage/file_formats.h"
#include "storage/qemu_img.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

constexpr std::int64_t kTpmStateKib = 4 * 1024;  // PVE's fixed size of a TPM state volume

struct Source {
  std::string path;
  std::string format;
  std::int64_t size = 0;
};

// An `import-from` source: a volume id (images or import content) or an absolute file path.
Source import_source(storage::StorageService& storage, const std::string& from) {
  Source s;
  if (!from.empty() && from.front() == '/') {
    if (!std::filesystem::is_regular_file(from) && !std::filesystem::is_block_file(from)) {
      throw Error::param("import-from", "source '" + from + "' does not exist");
    }
    s.path = from;
  } else {
    auto r = storage.resolve(from, "import-from");
    storage.activate(r.def);
    auto parsed = r.plugin->parse_volname(r.def, r.volname);
    if (parsed.vtype != "images" && parsed.vtype != "import" && parsed.vtype != "iso") {
      throw Error::param("import-from", "'" + from + "' is not a disk image (" + parsed.vtype + ")");
    }
    r.plugin->activate_volume(r.def, r.volname);
    s.path = r.plugin->path(r.def, r.volname);
    if (!parsed.format.empty() && parsed.format != "iso") s.format = parsed.format;
  }
  auto info = storage::qemu_img::info(s.path, s.format);
  s.format = info.format.empty() ? "raw" : info.format;
  s.size = info.virtual_size;
  return s;
}

}  // namespace

void VmService::allocate_disks(std::int64_t vmid, ConfigSection& section, tasks::TaskContext* task,
                               std::vector<std::string>& allocated) {
  for (const auto& key : all_drive_keys()) {
    auto value = section.get(key);
    if (!value) continue;
    auto drive = parse_drive(key, *value);
    auto request = parse_new_disk(drive);
    if (!request) {
      if (!drive.opt("import-from").empty()) throw Error::param(key, "'import-from' needs '<storage>:0' as volume");
      continue;
    }
    auto def = storage_.get(request->storage);
    auto content = def.content();
    if (!content.count("images")) {
      throw Error::param(key, "storage '" + def.id + "' does not support content-type 'images'");
    }
    storage_.activate(def);
    const auto& plugin = storage_.plugin(def);
    const auto& formats = plugin.info().formats;
    std::string format = drive.opt("format");
    if (drive.interface == "tpmstate") format = "raw";
    if (format.empty()) format = plugin.info().default_format.empty() ? "raw" : plugin.info().default_format;
    if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
      throw Error::param(key, "storage '" + def.id + "' does not support format '" + format + "'");
    }

    std::int64_t size_kib = static_cast<std::int64_t>(std::llround(request->size_gib * 1024 * 1024));
    std::optional<Source> import;
    std::string efi_vars;
    const std::string from = drive.opt("import-from");
    if (!from.empty()) {
      import = import_source(storage_, from);
      size_kib = (import->size + 1023) / 1024;
    } else if (drive.interface == "efidisk") {
      const bool ms = drive.opt("pre-enrolled-keys") == "1";
      if (drive.opt("efitype", "2m") == "4m") {
        efi_vars = ms ? host_.ovmf_vars_ms : host_.ovmf_vars;
      } else {
        efi_vars = ms ? "/usr/share/OVMF/OVMF_VARS.ms.fd" : "/usr/share/OVMF/OVMF_VARS.fd";
      }
      if (!std::filesystem::exists(efi_vars)) throw Error("EFI vars template '" + efi_vars + "' not found", 500);
      size_kib = static_cast<std::int64_t>((std::filesystem::file_size(efi_vars) + 1023) / 1024);
    } else if (drive.interface == "tpmstate") {
      size_kib = kTpmStateKib;
    } else if (size_kib <= 0) {
      throw Error::param(key, "size must be greater than 0 (use '<storage>:0' with 'import-from')");
    }

    std::string volname;
    if (plugin.info().file_based) {
      volname = plugin.alloc_image(def, vmid, format, "", size_kib);
    } else {
      auto lock = storage_.lock_storage(def.id);
      volname = plugin.alloc_image(def, vmid, format, "", size_kib);
    }
    const std::string volid = def.id + ":" + volname;
    allocated.push_back(volid);
    const std::string path = plugin.path(def, volname);
    if (import) {
      if (task) task->log("importing '" + from + "' to '" + volid + "'");
      storage::qemu_img::convert(import->path, import->format, path, format);
    } else if (!efi_vars.empty()) {
      storage::qemu_img::convert(efi_vars, "raw", path, format);
    }
    if (task) task->log(key + ": successfully created disk '" + volid + "'");

    drive.file = volid;
    drive.opts.erase("format");
    drive.opts.erase("import-from");
    drive.set_size_bytes(static_cast<std::uint64_t>(size_kib) * 1024);
    section.values[key] = print_drive(drive);
  }
}

void VmService::free_volumes(const std::vector<std::string>& volids, tasks::TaskContext* task) {
  for (const auto& volid : volids) {
    try {
      auto r = storage_.resolve(volid);
      storage_.activate(r.def);
      if (r.plugin->info().file_based) {
        r.plugin->free_image(r.def, r.volname);
      } else {
        auto lock = storage_.lock_storage(r.def.id);
        r.plugin->free_image(r.def, r.volname);
      }
      if (task) task->log("removed volume '" + volid + "'");
    } catch (const std::exception& e) {
      if (task) task->log("unable to free '" + volid + "': " + e.what());
      log::warn("unable to free '" + volid + "': " + e.what());
    }
  }
}

}  // namespace pvx::guest::qemu
