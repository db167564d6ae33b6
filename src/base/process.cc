#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/child_reaper.h"
#include "base/error.h"
#include "base/strings.h"

extern char** environ;

namespace pvx {
namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  }
  ~Pipe() { close_both(); }
  void close_read() { close_fd(0); }
  void close_write() { close_fd(1); }
  void close_both() { close_fd(0); close_fd(1); }
  void close_fd(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

std::string last_line(std::string_view text) {
  auto t = trim(text);
  auto nl = t.rfind('\n');
  return std::string(trim(nl == std::string_view::npos ? t : t.substr(nl + 1)));
}

bool needs_quoting(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./:=,@+%", c))) return true;
  }
  return false;
}

}  // namespace

std::string command_text(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    if (!needs_quoting(a)) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

std::string find_program(std::string_view name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string_view::npos) {
    return ::access(std::string(name).c_str(), X_OK) == 0 ? std::string(name) : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& dir : split_any(dirs, ":")) {
    std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

bool command_exists(std::string_view name) { return !find_program(name).empty(); }

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& opt) {
  if (argv.empty()) throw Error("run_command: empty argv");
  const std::string text = command_text(argv);
  if (!command_exists(argv[0])) throw Error("command '" + argv[0] + "' not found - is it installed?");

  Pipe in, out, err;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, opt.stdin_fd >= 0 ? opt.stdin_fd : in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, opt.stdout_fd >= 0 ? opt.stdout_fd : out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);

  // The daemon blocks its stop signals and ignores SIGPIPE; tools must start with defaults, in
  // their own process group so that a timeout can kill everything they started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
  for (const auto& e : opt.env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = -1;
  int rc = 0;
  // Claimed under the fork lock: the child reaper must never take this child's exit status.
  spawn_claimed([&] {
    rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), envp.data());
    return rc == 0 ? pid : -1;
  });
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error("command '" + text + "' could not start: " + std::strerror(rc));
  ClaimedChild claim(pid, std::adopt_lock);

  in.close_read();
  out.close_write();
  err.close_write();
  if (opt.stdin_fd >= 0 || opt.input.empty()) in.close_write();
  if (opt.stdout_fd >= 0) out.close_read();

  CommandResult result;
  std::size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  bool timed_out = false, too_much = false;
  char buf[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0 || in.fd[1] >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out.fd[0] >= 0) { idx_out = n; fds[n++] = {out.fd[0], POLLIN, 0}; }
    if (err.fd[0] >= 0) { idx_err = n; fds[n++] = {err.fd[0], POLLIN, 0}; }
    if (in.fd[1] >= 0) { idx_in = n; fds[n++] = {in.fd[1], POLLOUT, 0}; }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) { timed_out = true; break; }
    int pr = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    auto drain = [&](int idx, Pipe& p, std::string& sink, bool limited) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t r = ::read(p.fd[0], buf, sizeof buf);
      if (r <= 0) { p.close_read(); return; }
      if (limited && sink.size() + static_cast<std::size_t>(r) > opt.output_limit) { too_much = true; return; }
      sink.append(buf, static_cast<std::size_t>(r));
      if (!limited && sink.size() > (1u << 20)) sink.erase(0, sink.size() - (1u << 19));  // keep the tail of stderr
    };
    drain(idx_out, out, result.out, true);
    drain(idx_err, err, result.err, false);
    if (too_much) break;
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      if (fds[idx_in].revents & (POLLERR | POLLHUP)) {
        in.close_write();
      } else {
        ssize_t w = ::write(in.fd[1], opt.input.data() + written, std::min<std::size_t>(opt.input.size() - written, 65536));
        if (w < 0 && errno != EAGAIN && errno != EINTR) in.close_write();
        if (w > 0) written += static_cast<std::size_t>(w);
        if (written >= opt.input.size()) in.close_write();
      }
    }
  }
  if (timed_out || too_much) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (timed_out) {
    throw Error("command '" + text + "' timed out after " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(opt.timeout).count()) + " s");
  }
  if (too_much) throw Error("command '" + text + "' produced more output than expected");
  if (opt.check && result.exit_code != 0) {
    std::string why = last_line(result.err);
    if (why.empty()) why = last_line(result.out);
    throw Error("command '" + text + "' failed: " + (why.empty() ? "" : why + " ") + "(exit code " +
                std::to_string(result.exit_code) + ")");
  }
  return result;
}

}  // namespace pvx
