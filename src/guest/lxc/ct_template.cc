#include "guest/lxc/ct_template.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <memory>

#include "base/error.h"

namespace pvx::guest::lxc {

namespace {

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

// "./etc/passwd", "/etc/passwd" -> "etc/passwd"; "" for the archive's root entry.
std::string relative_name(std::string name) {
  while (name.starts_with("./") || name.starts_with("/")) name.erase(0, name[0] == '/' ? 1 : 2);
  if (name == ".") return "";
  return name;
}

}  // namespace

std::size_t extract_template(const std::filesystem::path& tarball, const std::filesystem::path& rootfs,
                             const ExtractOptions& options) {
  std::unique_ptr<archive, ReadCloser> in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), tarball.c_str(), 1 << 16) != ARCHIVE_OK) {
    throw Error("unable to open template '" + tarball.string() + "': " + archive_error_string(in.get()), 500);
  }
  std::unique_ptr<archive, WriteCloser> out(archive_write_disk_new());
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_UNLINK);
  const std::string root = std::filesystem::canonical(rootfs).string();  // SECURE_SYMLINKS checks every component
  std::size_t written = 0;
  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      throw Error("error reading template '" + tarball.filename().string() + "': " + archive_error_string(in.get()), 500);
    }
    const std::string name = relative_name(archive_entry_pathname(entry));
    if (options.id_shift != 0) {
      const auto type = archive_entry_filetype(entry);
      if (type == AE_IFCHR || type == AE_IFBLK) continue;  // an unprivileged container cannot use them
      archive_entry_set_uid(entry, archive_entry_uid(entry) + options.id_shift);
      archive_entry_set_gid(entry, archive_entry_gid(entry) + options.id_shift);
    }
    archive_entry_set_pathname(entry, name.empty() ? root.c_str() : (root + "/" + name).c_str());
    if (const char* link = archive_entry_hardlink(entry)) {
      archive_entry_set_hardlink(entry, (root + "/" + relative_name(link)).c_str());
    }
    rc = archive_write_header(out.get(), entry);
    if (rc == ARCHIVE_OK && archive_entry_size(entry) > 0) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      while ((rc = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_OK) break;
      }
      if (rc == ARCHIVE_EOF) rc = ARCHIVE_OK;
    }
    if (rc == ARCHIVE_OK) rc = archive_write_finish_entry(out.get());
    if (rc < ARCHIVE_WARN) {
      std::string msg = std::string("'") + name + "': " + archive_error_string(out.get());
      if (!options.ignore_errors) throw Error("error extracting template entry " + msg, 500);
      if (options.log) options.log("unpack error ignored: " + msg);
      continue;
    }
    ++written;
  }
  if (archive_write_close(out.get()) < ARCHIVE_WARN) {
    throw Error(std::string("error finishing template extraction: ") + archive_error_string(out.get()), 500);
  }
  return written;
}

}  // namespace pvx::guest::lxc
