// The cloud-init ISO image: the generated files laid out in a scratch directory and packed by
// genisoimage (ISO level 3, Joliet and Rock Ridge, as qemu-server runs it), then renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "guest/qemu/cloudinit.h"

namespace pvx::guest::qemu {
namespace fs = std::filesystem;

namespace {

// Removes the scratch directory and a half-written image on every way out.
struct Scratch {
  fs::path dir, tmp_iso;
  ~Scratch() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
    if (!tmp_iso.empty()) fs::remove(tmp_iso, ec);
  }
};

void write_plain(const fs::path& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.close();
  if (!f) throw Error("unable to write '" + path.string() + "'");
}

void fsync_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("unable to open '" + path.string() + "'");
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void make_cloudinit_iso(const CloudInitFiles& files, const fs::path& iso_path) {
  const fs::path parent = iso_path.has_parent_path() ? iso_path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error("unable to create directory '" + parent.string() + "': " + ec.message());

  Scratch scratch;
  std::string pattern = (parent / ("." + iso_path.filename().string() + ".XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw Error("unable to create a directory beside '" + iso_path.string() + "'");
  scratch.dir = pattern;
  const fs::path root = scratch.dir / "files";
  fs::create_directory(root);

  for (const auto& [name, content] : files.files) {
    fs::path rel(name);
    if (name.empty() || rel.is_absolute() || name.find("..") != std::string::npos) {
      throw Error("internal error: bad file name in cloud-init image: " + name);
    }
    fs::create_directories((root / rel).parent_path());
    write_plain(root / rel, content);
  }

  scratch.tmp_iso = scratch.dir / "image.iso";
  const std::string label = files.label.empty() ? "cidata" : files.label;
  run_command({"genisoimage", "-quiet", "-iso-level", "3", "-J", "-R", "-V", label, "-o", scratch.tmp_iso.string(),
               root.string()},
              CommandOptions{.timeout = std::chrono::seconds(60)});
  fsync_file(scratch.tmp_iso);  // the rename must not expose an image whose data is still in flight
  fs::rename(scratch.tmp_iso, iso_path, ec);
  if (ec) throw Error("unable to move cloud-init image to '" + iso_path.string() + "': " + ec.message());
  scratch.tmp_iso.clear();
}

}  // namespace pvx::guest::qemu
