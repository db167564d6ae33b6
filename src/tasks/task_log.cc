#include "tasks/task_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "base/error.h"

namespace pvx::tasks {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";
constexpr mode_t kLogMode = 0640;

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool ends_mid_line(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size == 0) return false;
  char last = '\n';
  return ::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

}  // namespace

std::filesystem::path task_log_path(const std::filesystem::path& dir, const Upid& upid) {
  // Proxmox spreads logs over 16 directories by the last hex digit of the start time.
  std::string subdir(1, kHexDigits[static_cast<std::uint64_t>(upid.starttime) & 0xF]);
  return dir / subdir / upid.str();
}

TaskLogWriter TaskLogWriter::create(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, kLogMode);
  if (fd < 0) {
    throw Error("unable to create output file '" + path.string() + "' - " + std::strerror(errno));
  }
  return TaskLogWriter(fd);
}

TaskLogWriter TaskLogWriter::append_to(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, kLogMode);
  if (fd < 0) {
    throw Error("unable to open task log '" + path.string() + "' - " + std::strerror(errno));
  }
  if (ends_mid_line(fd)) write_all(fd, "\n");
  return TaskLogWriter(fd);
}

TaskLogWriter::TaskLogWriter(TaskLogWriter&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

TaskLogWriter::~TaskLogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TaskLogWriter::line(std::string_view text) {
  if (fd_ < 0) return;
  std::string buf;
  buf.reserve(text.size() + 1);
  buf.append(text);
  buf.push_back('\n');
  write_all(fd_, buf);
}

std::pair<std::vector<LogLine>, std::int64_t> read_log_page(const std::filesystem::path& path,
                                                            std::int64_t start, std::int64_t limit) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "re"), &std::fclose);
  if (!file) {
    throw Error::param("upid", std::string("no such task - unable to open file - ") + std::strerror(errno));
  }
  if (start < 0) start = 0;
  const bool to_end = limit <= 0;

  std::vector<LogLine> lines;
  std::int64_t count = 0;
  char* buf = nullptr;
  std::size_t cap = 0;
  ssize_t len;
  while ((len = ::getline(&buf, &cap, file.get())) >= 0) {
    ++count;
    if (count <= start) continue;
    if (!to_end && static_cast<std::int64_t>(lines.size()) >= limit) continue;
    std::string_view text(buf, static_cast<std::size_t>(len));
    if (text.ends_with('\n')) text.remove_suffix(1);
    lines.push_back({count, std::string(text)});
  }
  std::free(buf);

  if (count == 0) {
    lines.push_back({1, "no content"});
    count = 1;
  }
  return {std::move(lines), count};
}

}  // namespace pvx::tasks
