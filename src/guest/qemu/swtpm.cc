#include "guest/qemu/swtpm.h"

#include <signal.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "base/child_reaper.h"
#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strings.h"
#include "guest/qemu/proc_util.h"

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

bool is_tpm2(const std::string& version) {
  if (version == "v2.0") return true;
  if (version == "v1.2") return false;
  throw Error("unsupported TPM version '" + version + "'");
}

void remove_quietly(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

std::string last_line(const std::string& text) {
  auto lines = split_any(text, "\n");
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    auto t = trim(*it);
    if (!t.empty()) return std::string(t);
  }
  return {};
}

}  // namespace

void swtpm_setup_state(const std::string& state_path, const std::string& version) {
  std::vector<std::string> argv = {
      "swtpm_setup", "--tpmstate", "file://" + state_path, "--createek", "--create-ek-cert",
      "--create-platform-cert", "--lock-nvram",
      // The system configuration, never root's XDG files; as root or not at all.
      "--config", "/etc/swtpm_setup.conf", "--runas", "0",
      "--not-overwrite",  // an existing state stays as it is
  };
  if (is_tpm2(version)) {
    argv.push_back("--tpm2");
    argv.push_back("--ecc");
  }
  auto r = run_command(argv, {.timeout = std::chrono::seconds(60), .check = false});
  if (r.exit_code != 0) {
    std::string why = last_line(r.err);
    if (why.empty()) why = last_line(r.out);
    throw Error("swtpm_setup failed: " + (why.empty() ? "exit code " + std::to_string(r.exit_code) : why));
  }
}

std::optional<int> find_swtpm_process(const VmPaths& paths) {
  auto pid = read_pid_file(paths.swtpm_pid());
  if (!pid) return std::nullopt;
  auto args = read_cmdline(*pid);
  if (args.empty() || args[0].find("swtpm") == std::string::npos) return std::nullopt;
  const std::string socket = paths.swtpm().string();
  for (const auto& a : args) {
    if (arg_names_path(a, socket)) return pid;
  }
  return std::nullopt;
}

int start_swtpm(const VmPaths& paths, const SwtpmStart& options) {
  if (options.state_path.empty()) throw Error("failed to start swtpm: no TPM state volume");
  const bool tpm2 = is_tpm2(options.version);
  std::filesystem::create_directories(paths.dir);
  if (auto running = find_swtpm_process(paths)) {
    throw Error("failed to start swtpm: already running (pid " + std::to_string(*running) + ")");
  }
  remove_quietly(paths.swtpm_pid());
  remove_quietly(paths.swtpm());

  if (options.initialize) swtpm_setup_state(options.state_path, options.version);

  const auto log_file = options.log_file.empty() ? paths.file("-swtpm.log") : options.log_file;
  // Tells the runs apart in the shared log.
  const std::string prefix = "[id=" + std::to_string(::time(nullptr)) + "] ";
  std::vector<std::string> argv = {
      "swtpm", "socket",
      "--tpmstate", "backend-uri=file://" + options.state_path + ",mode=0600",
      "--ctrl", "type=unixio,path=" + paths.swtpm().string() + ",mode=0600",
      "--pid", "file=" + paths.swtpm_pid().string(),
      "--terminate",  // ends when QEMU disconnects
      "--daemon",
      "--log", "file=" + log_file.string() + ",level=1,prefix=" + prefix,
  };
  if (tpm2) argv.push_back("--tpm2");
  auto r = run_command(argv, {.timeout = std::chrono::seconds(30), .check = false});
  if (r.exit_code != 0) {
    std::string why = last_line(r.err);
    if (why.empty()) why = last_line(r.out);
    throw Error("failed to start swtpm: " + (why.empty() ? "exit code " + std::to_string(r.exit_code) : why));
  }

  // swtpm writes its pid file after daemonizing; QEMU needs the socket.
  const auto deadline = Clock::now() + options.timeout;
  for (;;) {
    auto pid = find_swtpm_process(paths);
    std::error_code ec;
    if (pid && std::filesystem::exists(paths.swtpm(), ec)) return *pid;
    if (Clock::now() >= deadline) {
      if (pid) stop_swtpm(paths);
      throw Error("failed to start swtpm: " +
                  std::string(pid ? "control socket '" + paths.swtpm().string() + "' wasn't created"
                                  : "pid file '" + paths.swtpm_pid().string() + "' wasn't created"));
    }
    std::this_thread::sleep_for(20ms);
  }
}

void stop_swtpm(const VmPaths& paths, std::chrono::milliseconds timeout) {
  if (auto pid = find_swtpm_process(paths)) {
    int pidfd = open_pidfd(*pid);
    // Re-checked with the pidfd held: the signals cannot reach a reused pid.
    if (pidfd >= 0 && find_swtpm_process(paths) == pid) {
      signal_process(pidfd, *pid, SIGTERM);
      if (!wait_pidfd(pidfd, timeout)) {
        log::warn("swtpm (pid " + std::to_string(*pid) + ") did not stop within " +
                  std::to_string(timeout.count()) + " ms; killing it");
        signal_process(pidfd, *pid, SIGKILL);
        wait_pidfd(pidfd, 5s);
      }
      // It is pvxd's child (re-parented by the subreaper) or PID 1's: either reaps it.
      reap_orphans_soon();
    }
    if (pidfd >= 0) ::close(pidfd);
  }
  remove_quietly(paths.swtpm_pid());
  remove_quietly(paths.swtpm());
}

}  // namespace pvx::guest::qemu
