#include "guest/lxc/rootfs_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/random.h"

namespace pvx::guest::lxc {
namespace {

constexpr std::size_t kMaxFileSize = 16u << 20;  // setup reads config files, never more

[[noreturn]] void fail(const std::string& what, std::string_view path, int err) {
  throw Error("container rootfs: " + what + " '" + std::string(path) + "' failed: " + std::strerror(err), 500);
}

std::string relative(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path.empty() ? std::string(".") : std::string(path);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string temp_name(const std::string& name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (unsigned char c : random_bytes(6)) {
    suffix += kHex[c >> 4];
    suffix += kHex[c & 15];
  }
  return "." + name + ".pvx-" + suffix;
}

}  // namespace

RootFs::RootFs(const std::filesystem::path& root, uid_t owner_uid, gid_t owner_gid)
    : root_path_(root), uid_(owner_uid), gid_(owner_gid) {
  // The root itself is a host path pvxd chose (the mounted rootfs), so plain open(2) is right.
  root_.fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_.fd < 0) fail("open", root.string(), errno);
}

int RootFs::open_in_root(std::string_view path, int flags, bool follow_last) const {
  const std::string rel = relative(path);
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  // Symlinks and ".." resolve as inside the container; /proc-style magic links are refused.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    const long fd = ::syscall(SYS_openat2, root_.fd, rel.c_str(), &how, sizeof how);
    if (fd < 0 && errno == EAGAIN) continue;  // a concurrent rename in the rootfs: retry
    if (fd < 0 && errno == EINTR) continue;
    return static_cast<int>(fd);
  }
}

int RootFs::open_parent(std::string_view path, std::string* name) const {
  const std::string rel = relative(path);
  const auto slash = rel.rfind('/');
  *name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (name->empty() || *name == "." || *name == "..") fail("resolve", path, EINVAL);
  const std::string parent = slash == std::string::npos ? std::string(".") : rel.substr(0, slash);
  // O_RDONLY (not O_PATH) so the directory can be fsync'ed; O_DIRECTORY refuses anything else.
  const int dir = open_in_root(parent, O_RDONLY | O_DIRECTORY);
  if (dir < 0) fail("open directory of", path, errno);
  return dir;
}

std::optional<struct stat> RootFs::stat(std::string_view path) const {
  UniqueFd fd(open_in_root(path, O_PATH));
  struct stat st {};
  if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0) return std::nullopt;
  return st;
}

bool RootFs::is_file(std::string_view path) const {
  auto st = stat(path);
  return st && S_ISREG(st->st_mode);
}

bool RootFs::is_dir(std::string_view path) const {
  auto st = stat(path);
  return st && S_ISDIR(st->st_mode);
}

bool RootFs::exists(std::string_view path) const {
  UniqueFd fd(open_in_root(path, O_PATH, /*follow_last=*/false));
  return fd.fd >= 0;
}

bool RootFs::is_symlink(std::string_view path) const {
  UniqueFd fd(open_in_root(path, O_PATH, /*follow_last=*/false));
  struct stat st {};
  return fd.fd >= 0 && ::fstat(fd.fd, &st) == 0 && S_ISLNK(st.st_mode);
}

std::optional<std::string> RootFs::read(std::string_view path) const {
  // Look before opening for reading: opening a FIFO would block and a device node would reach
  // host hardware. The second open is checked against the first in case the name was swapped.
  auto before = stat(path);
  if (!before || !S_ISREG(before->st_mode)) return std::nullopt;
  UniqueFd fd(open_in_root(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (fd.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail("stat", path, errno);
  if (!S_ISREG(st.st_mode) || st.st_ino != before->st_ino || st.st_dev != before->st_dev) {
    throw Error("container rootfs: '" + std::string(path) + "' changed while it was read", 500);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read", path, errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFileSize) throw Error("container rootfs: '" + std::string(path) + "' is too large", 500);
  }
  return out;
}

std::optional<std::string> RootFs::read_first_line(std::string_view path) const {
  auto data = read(path);
  if (!data) return std::nullopt;
  return data->substr(0, data->find('\n'));
}

bool RootFs::ignored(std::string_view path) const {
  const std::string rel = relative(path);
  const auto slash = rel.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : rel.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  return is_file(dir + ".pve-ignore." + name);
}

bool RootFs::write(std::string_view path, std::string_view data, mode_t mode) {
  if (ignored(path)) return false;
  std::string name;
  UniqueFd dir(open_parent(path, &name));

  uid_t uid = uid_;
  gid_t gid = gid_;
  struct stat old {};
  if (::fstatat(dir.fd, name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(old.st_mode)) fail("replace", path, EISDIR);
    if (S_ISREG(old.st_mode)) {  // keep what the container chose for its file
      mode = old.st_mode & 07777;
      uid = old.st_uid;
      gid = old.st_gid;
    }
  } else if (errno != ENOENT) {
    fail("stat", path, errno);
  }

  const std::string tmp = temp_name(name);
  UniqueFd fd(::openat(dir.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.fd < 0) fail("create a temporary for", path, errno);
  auto abandon = [&](const char* what) {
    const int err = errno;
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    fail(what, path, err);
  };
  if (!write_all(fd.fd, data)) abandon("write");
  // chown before chmod: chown clears set-id bits.
  if (::fchown(fd.fd, uid, gid) != 0) abandon("chown");
  if (::fchmod(fd.fd, mode) != 0) abandon("chmod");
  if (::fsync(fd.fd) != 0) abandon("fsync");
  if (::close(fd.release()) != 0) abandon("close");
  if (::renameat(dir.fd, tmp.c_str(), dir.fd, name.c_str()) != 0) abandon("rename over");
  ::fsync(dir.fd);
  return true;
}

void RootFs::make_dirs(std::string_view path, mode_t mode) {
  const std::string rel = relative(path);
  std::string prefix;
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    const auto next = rel.find('/', pos);
    const std::string comp = rel.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? rel.size() + 1 : next + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") fail("mkdir", path, EINVAL);
    const std::string parent = prefix.empty() ? std::string(".") : prefix;
    prefix = prefix.empty() ? comp : prefix + "/" + comp;
    if (is_dir(prefix)) continue;
    UniqueFd dir(open_in_root(parent, O_PATH | O_DIRECTORY));
    if (dir.fd < 0) fail("open", parent, errno);
    if (::mkdirat(dir.fd, comp.c_str(), mode) != 0) {
      if (errno != EEXIST) fail("mkdir", prefix, errno);
    } else if (::fchownat(dir.fd, comp.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW) != 0) {
      fail("chown", prefix, errno);
    }
    if (!is_dir(prefix)) fail("mkdir", prefix, ENOTDIR);
  }
}

bool RootFs::remove(std::string_view path) {
  if (ignored(path)) return false;
  std::string name;
  UniqueFd dir(open_in_root(std::filesystem::path(relative(path)).parent_path().string(), O_PATH | O_DIRECTORY));
  if (dir.fd < 0) return false;  // no parent, nothing to remove
  name = std::filesystem::path(relative(path)).filename().string();
  if (name.empty() || name == "." || name == "..") return false;
  if (::unlinkat(dir.fd, name.c_str(), 0) == 0) return true;
  if (errno == ENOENT || errno == EISDIR || errno == EPERM) return false;
  fail("unlink", path, errno);
}

bool RootFs::symlink(std::string_view target, std::string_view path) {
  if (ignored(path) || exists(path)) return false;
  std::string name;
  UniqueFd dir(open_parent(path, &name));
  if (::symlinkat(std::string(target).c_str(), dir.fd, name.c_str()) != 0) {
    if (errno == EEXIST) return false;
    fail("symlink", path, errno);
  }
  if (::fchownat(dir.fd, name.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW) != 0) fail("chown", path, errno);
  return true;
}

}  // namespace pvx::guest::lxc
