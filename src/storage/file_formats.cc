#include "storage/file_formats.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <regex>

#include "storage/qemu_img.h"

namespace pvx::storage {
namespace {

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); });
}

std::uint64_t be64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

bool plain_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         std::none_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

}  // namespace

std::optional<std::string> image_format_of(std::string_view name) {
  for (std::string_view fmt : {"raw", "qcow2", "vmdk", "subvol"}) {
    if (name.size() > fmt.size() + 1 && name.ends_with(fmt) && name[name.size() - fmt.size() - 1] == '.') {
      return std::string(fmt);
    }
  }
  return std::nullopt;
}

std::string strip_image_suffix(std::string_view name) {
  if (auto fmt = image_format_of(name)) return std::string(name.substr(0, name.size() - fmt->size() - 1));
  return std::string(name);
}

std::optional<FileKind> classify_file(std::string_view vtype, std::string_view name) {
  if (!plain_name(name) || name.size() > 255) return std::nullopt;
  FileKind k;
  k.vtype = std::string(vtype);
  if (vtype == "iso") {
    if (!ends_with_ci(name, ".iso") && !ends_with_ci(name, ".img")) return std::nullopt;
    k.format = "iso";
    return k;
  }
  if (vtype == "vztmpl") {
    for (std::string_view ext : {".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"}) {
      if (name.ends_with(ext) && name.size() > ext.size()) {
        k.format = "tgz";
        return k;
      }
    }
    return std::nullopt;
  }
  if (vtype == "snippets") {
    k.format = "snippet";
    return k;
  }
  if (vtype == "import") {
    for (std::string_view ext : {"ova", "ovf", "qcow2", "raw", "vmdk"}) {
      if (name.size() > ext.size() + 1 && name.ends_with(ext) && name[name.size() - ext.size() - 1] == '.') {
        k.format = std::string(ext);
        return k;
      }
    }
    return std::nullopt;
  }
  if (vtype == "backup") {
    static const std::regex re(
        R"(^vzdump-(openvz|lxc|qemu)-(\d{1,9})-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.(tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2|xz))?)$)");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(name.begin(), name.end(), m, re)) return std::nullopt;
    k.subtype = m[1].str() == "openvz" ? "lxc" : m[1].str();
    k.vmid = std::stoll(m[2].str());
    std::tm tm{};
    tm.tm_year = std::stoi(m[3].str()) - 1900;
    tm.tm_mon = std::stoi(m[4].str()) - 1;
    tm.tm_mday = std::stoi(m[5].str());
    tm.tm_hour = std::stoi(m[6].str());
    tm.tm_min = std::stoi(m[7].str());
    tm.tm_sec = std::stoi(m[8].str());
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    k.ctime = t < 0 ? 0 : static_cast<std::int64_t>(t);
    k.format = m[9].str();
    return k;
  }
  return std::nullopt;
}

std::string backup_log_name(const std::string& path) {
  static const std::regex re(R"(\.(tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2|xz))?)$)");
  return std::regex_replace(path, re, ".log");
}

std::string first_line_of_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

ImageHeader read_image_header(const std::filesystem::path& file, const std::string& format, const struct stat& st) {
  return read_image_header_at(AT_FDCWD, file.c_str(), file, format, st);
}

ImageHeader read_image_header_at(int dirfd, const char* name, const std::filesystem::path& file,
                                 const std::string& format, const struct stat& st) {
  ImageHeader h;
  if (format == "raw") {
    h.virtual_size = st.st_size;
    return h;
  }
  if (format == "qcow2") {
    // Header: magic "QFI\xfb", version, backing_file_offset (u64 @8), backing_file_size
    // (u32 @16), ..., size (u64 @24), all big-endian.
    int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return h;
    unsigned char buf[32];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n == static_cast<ssize_t>(sizeof buf) && buf[0] == 'Q' && buf[1] == 'F' && buf[2] == 'I' && buf[3] == 0xfb) {
      h.virtual_size = static_cast<std::int64_t>(be64(buf + 24));
      std::uint64_t boff = be64(buf + 8);
      std::uint32_t blen = be32(buf + 16);
      if (boff && blen && blen < 1024) {
        std::string name(blen, '\0');
        if (::pread(fd, name.data(), blen, static_cast<off_t>(boff)) == static_cast<ssize_t>(blen)) h.backing_file = name;
      }
    }
    ::close(fd);
    return h;
  }
  try {
    auto i = qemu_img::info(file, format);
    h.virtual_size = i.virtual_size;
    h.backing_file = i.backing_file;
  } catch (...) {
    // An unreadable image still lists, with size 0, as PVE lists it.
  }
  return h;
}

}  // namespace pvx::storage
