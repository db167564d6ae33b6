#pragma once
// How file-backed storage recognises its files by name (PVE's naming rules) and reads image
// headers without starting qemu-img: listing 10 000 volumes must not spawn 10 000 processes.
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pvx::storage {

// "vm-100-disk-0.qcow2" -> "qcow2"; also raw, vmdk, subvol. nullopt for other names.
std::optional<std::string> image_format_of(std::string_view name);
// "vm-100-disk-0.qcow2" -> "vm-100-disk-0".
std::string strip_image_suffix(std::string_view name);

struct FileKind {
  std::string vtype;
  std::string format;     // iso, tgz, snippet, vma.zst, tar.zst, ova, qcow2, ...
  std::int64_t vmid = 0;  // backups: the guest's id
  std::int64_t ctime = 0; // backups: the time in the name (local time, as vzdump writes it)
  std::string subtype;    // backups: qemu, lxc
};
// What a file named `name` in the directory of `vtype` is; nullopt when it is not such content
// (e.g. a .log beside a backup, a .txt in template/iso).
std::optional<FileKind> classify_file(std::string_view vtype, std::string_view name);

// "…/vzdump-qemu-100-2024_01_01-00_00_00.vma.zst" -> "…/vzdump-qemu-100-2024_01_01-00_00_00.log"
std::string backup_log_name(const std::string& path);

std::string first_line_of_file(const std::string& path);

struct ImageHeader {
  std::int64_t virtual_size = 0;
  std::string backing_file;
};
// qcow2: from its header; raw: the file size; vmdk: qemu-img info (rare on dir storage).
ImageHeader read_image_header(const std::filesystem::path& file, const std::string& format, const struct stat& st);
// The same for a file named relative to an open directory (listings); `file` is for qemu-img.
ImageHeader read_image_header_at(int dirfd, const char* name, const std::filesystem::path& file,
                                 const std::string& format, const struct stat& st);

}  // namespace pvx::storage
