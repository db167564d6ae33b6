// cfg2cmd golden files (golden/cfg2cmd/<name>.conf + .input -> .argv or .error, see the README
// there), the args splitter, and a real QEMU (TCG, paused) accepting the argv of some configs.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "guest/guest_config.h"
#include "guest/qemu/cfg2cmd.h"
#include "guest/qemu/shell_words.h"
#include "guest/qemu/vm_paths.h"

extern char** environ;

namespace pvx::guest::qemu {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(PVX_GUEST_GOLDEN) / "cfg2cmd";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// One golden case: the parsed config plus the input it runs with (owns the config section).
struct Case {
  GuestConfig config;
  Cfg2CmdInput input;
};

Case load_case(const std::string& name) {
  Case c;
  c.input.vmid = 100;
  c.input.run_dir = "/run/pvx";
  c.input.host.host_cpus = 16;
  std::istringstream lines(read_text(kGoldenDir / (name + ".input")));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key[0] == '#') continue;
    std::vector<std::string> v;
    for (std::string w; words >> w;) v.push_back(w);
    auto need = [&](std::size_t n) {
      if (v.size() < n) throw std::runtime_error(name + ".input: '" + key + "' needs " + std::to_string(n) + " values");
    };
    if (key == "vmid") { need(1); c.input.vmid = std::stoll(v[0]); }
    else if (key == "kvm") { need(1); c.input.host.kvm = v[0] == "1"; }
    else if (key == "qemu_version") { need(1); c.input.host.qemu_version = v[0]; }
    else if (key == "host_cpus") { need(1); c.input.host.host_cpus = std::stoi(v[0]); }
    else if (key == "run_dir") { need(1); c.input.run_dir = v[0]; }
    else if (key == "boot_splash") { need(1); c.input.host.boot_splash = v[0]; }
    else if (key == "bridge_mtu") { need(2); c.input.host.bridge_mtu[v[0]] = std::stoi(v[1]); }
    else if (key == "cloudinit_iso") { need(1); c.input.cloudinit_iso = v[0]; }
    else if (key == "vmstate") { need(1); c.input.vmstate_path = v[0]; }
    else if (key == "paused") { need(1); c.input.paused = v[0] == "1"; }
    else if (key == "volume") {
      need(2);
      c.input.volume_paths[v[0]] = v[1];
      if (v.size() > 2) c.input.volume_formats[v[0]] = v[2];
      if (v.size() > 3) c.input.volume_storage_types[v[0]] = v[3];
    } else {
      throw std::runtime_error(name + ".input: unknown key '" + key + "'");
    }
  }
  std::vector<std::string> warnings;
  c.config = parse_guest_config(read_text(kGoldenDir / (name + ".conf")), c.input.vmid, &warnings);
  if (!warnings.empty()) throw std::runtime_error(name + ".conf: " + warnings.front());
  return c;
}

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() == ".conf") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string join_lines(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += a + "\n";
  return out;
}

TEST(Cfg2CmdGolden, EveryConfigMatchesItsArgvOrError) {
  bool update = std::getenv("PVX_UPDATE_GOLDEN") && std::string(std::getenv("PVX_UPDATE_GOLDEN")) == "1";
  auto names = golden_names();
  ASSERT_GE(names.size(), 32u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    Case c = load_case(name);
    c.input.conf = &c.config.main;
    fs::path argv_file = kGoldenDir / (name + ".argv");
    fs::path error_file = kGoldenDir / (name + ".error");
    std::string got;
    bool failed = false;
    try {
      got = join_lines(cfg2cmd(c.input));
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 500);
      got = std::string(e.what()) + "\n";
      failed = true;
    }
    if (update) {
      fs::remove(failed ? argv_file : error_file);
      write_text(failed ? error_file : argv_file, got);
      continue;
    }
    if (failed) {
      ASSERT_TRUE(fs::exists(error_file)) << "cfg2cmd failed: " << got;
      EXPECT_EQ(got, read_text(error_file));
    } else {
      ASSERT_TRUE(fs::exists(argv_file)) << "no " << argv_file << "; got:\n" << got;
      EXPECT_EQ(got, read_text(argv_file));
    }
  }
}

TEST(Cfg2CmdMachine, MachineTypeFollowsConfigAndQemuVersion) {
  HostFacts host;
  ConfigSection conf;
  EXPECT_EQ(machine_type(conf, host), "pc-i440fx-7.2");
  conf.values["machine"] = "q35";
  EXPECT_EQ(machine_type(conf, host), "pc-q35-7.2");
  conf.values["machine"] = "type=q35,viommu=intel";
  EXPECT_EQ(machine_type(conf, host), "pc-q35-7.2");
  conf.values["machine"] = "pc-q35-6.2+pve0";
  EXPECT_EQ(machine_type(conf, host), "pc-q35-6.2");
  conf.values["machine"] = "pc-i440fx-8.1";
  EXPECT_THROW(machine_type(conf, host), Error);
  conf.values["machine"] = "virt";
  EXPECT_THROW(machine_type(conf, host), Error);
  conf.values.erase("machine");
  conf.values["ostype"] = "win11";
  EXPECT_EQ(machine_type(conf, host), "pc-i440fx-5.1");
  host.qemu_version = "8.1.2";
  conf.values.erase("ostype");
  EXPECT_EQ(machine_type(conf, host), "pc-i440fx-8.1");
}

TEST(Cfg2CmdArgs, SplitsLikeAShell) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_shell_words("  -foo  bar\t-baz "), (V{"-foo", "bar", "-baz"}));
  EXPECT_EQ(split_shell_words("-a 'b c' \"d \\\"e\\\" $f\" g\\ h ''"), (V{"-a", "b c", "d \"e\" $f", "g h", ""}));
  EXPECT_EQ(split_shell_words("-x pre'mid'\"post\""), (V{"-x", "premidpost"}));
  EXPECT_EQ(split_shell_words(""), V{});
  EXPECT_THROW(split_shell_words("-a 'open"), Error);
  EXPECT_THROW(split_shell_words("-a \"open"), Error);
}

// ---- QEMU accepts the command lines ----

// Reads from a QMP socket until a line with `needle` arrives (or the deadline passes).
bool qmp_wait_for(int fd, const std::string& needle, std::string& seen) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (seen.find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return false;
    if (n > 0) seen.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

std::string qmp_query_status(const fs::path& socket) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string seen;
  std::string result = "no answer";
  auto send = [&](const std::string& msg) { return ::write(fd, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()); };
  if (qmp_wait_for(fd, "\"QMP\"", seen) && send("{\"execute\":\"qmp_capabilities\"}\n") &&
      qmp_wait_for(fd, "\"return\"", seen)) {
    seen.clear();
    if (send("{\"execute\":\"query-status\"}\n") && qmp_wait_for(fd, "\"status\"", seen)) result = seen;
  }
  ::close(fd);
  return result;
}

// Replaces every volume of a case with a small image of its format in `dir`.
void use_scratch_volumes(Case& c, const fs::path& dir) {
  int n = 0;
  for (auto& [volid, path] : c.input.volume_paths) {
    std::string format = c.input.volume_formats.count(volid) ? c.input.volume_formats[volid] : "raw";
    if (format == "iso") format = "raw";
    std::string size = "16M";
    if (volid.find("efidisk") != std::string::npos || path.find("efi") != std::string::npos) size = "540672";
    path = (dir / ("vol" + std::to_string(n++) + "." + format)).string();
    run_command({"qemu-img", "create", "-q", "-f", format, path, size});
  }
  if (!c.input.cloudinit_iso.empty()) {
    c.input.cloudinit_iso = (dir / "cloudinit.iso").string();
    run_command({"qemu-img", "create", "-q", "-f", "raw", c.input.cloudinit_iso, "1M"});
  }
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> cargv;
  std::vector<std::string> copy = argv;
  for (auto& a : copy) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

TEST(Cfg2CmdQemu, QemuAcceptsRepresentativeCommandLines) {
  std::string qemu = find_program("qemu-system-x86_64");
  if (qemu.empty() || !command_exists("qemu-img")) GTEST_SKIP() << "qemu-system-x86_64 or qemu-img missing";
  // Without taps (those need pvxd's bridge code): NICs here are user-mode ones.
  const std::vector<std::string> configs = {"run-i440fx-scsi", "run-q35-ovmf-sata-virtio", "run-scsi-single-numa-cloudinit",
                                            "run-windows-ide", "run-lsi-throttle-args"};
  fs::path base = fs::temp_directory_path() / ("pvx-cfg2cmd-" + std::to_string(::getpid()));
  fs::create_directories(base);
  for (const std::string& name : configs) {
    SCOPED_TRACE(name);
    Case c = load_case(name);
    c.input.conf = &c.config.main;
    fs::path dir = base / name;
    fs::create_directories(dir / "qemu-server");
    c.input.run_dir = dir;
    c.input.host.kvm = false;
    c.input.host.qemu_binary = qemu;
    c.input.host.host_cpus = 64;
    c.input.paused = true;
    use_scratch_volumes(c, dir);
    std::vector<std::string> argv = cfg2cmd(c.input);

    // A TPM needs its swtpm listening before QEMU starts (pvxd's start does the same).
    pid_t swtpm = -1;
    if (c.config.main.has("tpmstate0")) {
      std::string swtpm_bin = find_program("swtpm");
      if (swtpm_bin.empty()) GTEST_SKIP() << "swtpm missing";
      fs::create_directories(dir / "tpm");
      fs::path sock = VmPaths(dir, c.input.vmid).swtpm();
      swtpm = spawn({swtpm_bin, "socket", "--tpm2", "--tpmstate", "dir=" + (dir / "tpm").string(), "--ctrl",
                     "type=unixio,path=" + sock.string(), "--terminate"},
                    (dir / "swtpm.log").string());
      ASSERT_GT(swtpm, 0);
      for (int i = 0; i < 50 && !fs::exists(sock); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_TRUE(fs::exists(sock)) << read_text(dir / "swtpm.log");
    }

    std::string log = (dir / "qemu.log").string();
    pid_t pid = spawn(argv, log);
    if (pid <= 0 && swtpm > 0) ::kill(swtpm, SIGKILL);
    ASSERT_GT(pid, 0);

    fs::path qmp = dir / "qemu-server" / "100.qmp";
    bool exited = false;
    for (int i = 0; i < 100 && !fs::exists(qmp); ++i) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!exited) std::this_thread::sleep_for(std::chrono::seconds(1));
    int status = 0;
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    EXPECT_FALSE(exited) << "QEMU exited:\n" << read_text(log) << "\nargv:\n" << join_lines(argv);
    if (!exited) {
      std::string answer = qmp_query_status(qmp);
      EXPECT_NE(answer.find("\"prelaunch\""), std::string::npos) << answer << "\n" << read_text(log);
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (swtpm > 0) {
      ::kill(swtpm, SIGKILL);
      waitpid(swtpm, &status, 0);
    }
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace pvx::guest::qemu
