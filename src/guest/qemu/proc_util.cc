#include "guest/qemu/proc_util.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/atomic_file.h"
#include "base/strings.h"

namespace pvx::guest::qemu {

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

bool wait_pidfd(int pidfd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (r > 0) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

int signal_process(int pidfd, pid_t pid, int sig) {
#ifdef SYS_pidfd_send_signal
  if (pidfd >= 0) return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
#endif
  return ::kill(pid, sig);
}

std::optional<int> read_pid_file(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return std::nullopt;
  auto t = trim(*text);
  auto end = t.find_first_not_of("0123456789");
  auto pid = to_int(t.substr(0, end));
  if (!pid || *pid <= 0) return std::nullopt;
  return pid;
}

std::vector<std::string> read_cmdline(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> args;
  if (!text) return args;
  std::size_t start = 0;
  while (start < text->size()) {
    auto end = text->find('\0', start);
    if (end == std::string::npos) end = text->size();
    args.push_back(text->substr(start, end - start));
    start = end + 1;
  }
  return args;
}

bool arg_names_path(const std::string& arg, const std::string& path) {
  if (path.empty()) return false;
  for (auto pos = arg.find(path); pos != std::string::npos; pos = arg.find(path, pos + 1)) {
    bool starts = pos == 0 || arg[pos - 1] == '=' || arg[pos - 1] == ':' || arg[pos - 1] == ',';
    auto end = pos + path.size();
    bool ends = end == arg.size() || arg[end] == ',';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace pvx::guest::qemu
