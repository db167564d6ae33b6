// qm commands that are more than one API call: the serial terminal (straight to the VM's serial
// socket, as PVE's `qm terminal` does), an interactive monitor, `guest exec` that waits for the
// command's result, `wait`, `rescan` (unreferenced volumes become unusedN) and `disk import`.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <set>
#include <thread>

#include "base/error.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/local_args.h"
#include "cli/output.h"

namespace pvx::cli {
namespace {

using nlohmann::json;

struct Vm {
  Client client;
  std::string node;
  std::string vmid;
  std::string base() const { return "/nodes/" + node + "/qemu/" + vmid; }
};

Vm open_vm(const GlobalOptions& global, const std::string& vmid, const std::map<std::string, std::string>& opts) {
  Client client(socket_path(global.data_dir));
  auto it = opts.find("node");
  std::string node = it != opts.end() ? it->second : local_node(client);
  if (vmid.empty() || vmid.find_first_not_of("0123456789") != std::string::npos) throw Error::param("vmid", "invalid vmid");
  return Vm{std::move(client), std::move(node), vmid};
}

json call_data(const Vm& vm, const std::string& method, const std::string& path, const json& params = json::object()) {
  ApiReply r = vm.client.call(method, vm.base() + path, params);
  check_reply(r);
  return r.body.value("data", json());
}

// Restores the terminal's mode however the session ends.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(0) || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

// `qm terminal <vmid> [--iface serialN] [--escape ^O]`: stdin/stdout <-> the serial socket.
int terminal(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"iface", "escape", "node"});
  if (a.positional.size() != 1) throw Error("usage: qm terminal <vmid> [--iface serial0] [--escape ^O]", 400);
  Vm vm = open_vm(global, a.positional[0], a.options);
  std::string iface = a.options.count("iface") ? a.options["iface"] : "";
  json conf = call_data(vm, "GET", "/config");
  if (iface.empty()) {
    for (int i = 0; i < 4 && iface.empty(); ++i) {
      if (conf.contains("serial" + std::to_string(i))) iface = "serial" + std::to_string(i);
    }
    if (iface.empty()) throw Error("unable to find a serial interface", 400);
  }
  if (iface.size() != 7 || !iface.starts_with("serial") || iface[6] < '0' || iface[6] > '3') {
    throw Error::param("iface", "value must be one of serial0, serial1, serial2, serial3");
  }
  if (!conf.contains(iface) || conf[iface] != "socket") {
    throw Error("VM " + vm.vmid + " has no " + iface + " of type 'socket'", 400);
  }
  json status = call_data(vm, "GET", "/status/current");
  if (status.value("status", "") != "running") throw Error("VM " + vm.vmid + " not running", 500);

  char escape = 0x0f;  // ^O, as PVE
  if (auto e = a.options.find("escape"); e != a.options.end()) {
    const std::string& v = e->second;
    if (v.size() == 2 && v[0] == '^' && v[1] >= '@' && v[1] <= '_') escape = static_cast<char>(v[1] - '@');
    else if (v == "0") escape = 0;
    else throw Error::param("escape", "expected ^<letter> or 0");
  }
  auto sock_path = socket_path(global.data_dir).parent_path() / "run" / "qemu-server" / (vm.vmid + "." + iface);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_path.c_str(), sizeof(addr.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error("unable to connect to " + sock_path.string() + ": " + std::strerror(err), 500);
  }
  if (::isatty(0)) std::cerr << "starting serial terminal on interface " << iface << " (press Ctrl+O to exit)\r\n";
  RawTerminal raw;
  char buf[4096];
  pollfd fds[2] = {{0, POLLIN, 0}, {fd, POLLIN, 0}};
  bool input_open = true;
  for (;;) {
    fds[0].fd = input_open ? 0 : -1;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (::write(1, buf, static_cast<std::size_t>(n)) < 0) break;
    }
    if (input_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        input_open = false;  // piped input ended: keep showing output until the guest closes
        continue;
      }
      auto* end = escape ? static_cast<char*>(std::memchr(buf, escape, static_cast<std::size_t>(n))) : nullptr;
      std::size_t len = end ? static_cast<std::size_t>(end - buf) : static_cast<std::size_t>(n);
      if (len && ::write(fd, buf, len) < 0) break;
      if (end) break;
    }
  }
  ::close(fd);
  return 0;
}

// `qm monitor <vmid>`: HMP lines read from stdin, each sent through the API.
int monitor(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"node"});
  if (a.positional.size() != 1) throw Error("usage: qm monitor <vmid>", 400);
  Vm vm = open_vm(global, a.positional[0], a.options);
  bool tty = ::isatty(0);
  if (tty) std::cout << "Entering QEMU Monitor for VM " << vm.vmid << " - type 'help' for help\n";
  std::string line;
  for (;;) {
    if (tty) std::cout << "qm> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "quit" || line == "q") break;
    ApiReply r = vm.client.call("POST", vm.base() + "/monitor", json{{"command", line}});
    if (r.status != 200) {
      std::cerr << "ERROR: " << r.reason << "\n";
      if (!tty) return 255;
      continue;
    }
    std::cout << r.body.value("data", "") << std::flush;
  }
  return 0;
}

// `qm guest exec <vmid> [--timeout 30] [--pass-stdin 0|1] [--synchronous 1] -- <command> [args]`
int guest_exec(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"timeout", "pass-stdin", "synchronous", "node"});
  std::vector<std::string> command = a.rest;
  if (a.positional.empty()) throw Error("usage: qm guest exec <vmid> [--timeout 30] [--pass-stdin 0|1] -- <command> [args]", 400);
  command.insert(command.begin(), a.positional.begin() + 1, a.positional.end());
  if (command.empty()) throw Error::param("extra-args", "no command given");
  Vm vm = open_vm(global, a.positional[0], a.options);
  json params{{"command", command}};
  if (truthy(a.options["pass-stdin"])) {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    params["input-data"] = input;
  }
  json started = call_data(vm, "POST", "/agent/exec", params);
  auto pid = started.value("pid", std::int64_t{0});
  if (a.options.count("synchronous") && !truthy(a.options["synchronous"])) {
    std::cout << started.dump(4) << "\n";
    return 0;
  }
  int timeout = a.options.count("timeout") ? std::stoi(a.options["timeout"]) : 30;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  json st;
  for (;;) {
    st = call_data(vm, "GET", "/agent/exec-status", json{{"pid", pid}});
    if (st.value("exited", false) || st.value("exited", 0) == 1) break;
    if (timeout > 0 && std::chrono::steady_clock::now() > deadline) {
      st = json{{"pid", pid}, {"exited", 0}};
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << st.dump(4) << "\n";
  return st.value("exitcode", 0) == 0 ? 0 : 255;
}

// `qm wait <vmid> [--timeout N]`: until the VM stopped.
int wait_stopped(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"timeout", "node"});
  if (a.positional.size() != 1) throw Error("usage: qm wait <vmid> [--timeout N]", 400);
  Vm vm = open_vm(global, a.positional[0], a.options);
  int timeout = a.options.count("timeout") ? std::stoi(a.options["timeout"]) : 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  while (call_data(vm, "GET", "/status/current").value("status", "") == "running") {
    if (timeout > 0 && std::chrono::steady_clock::now() > deadline) throw Error("timeout while waiting", 500);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

// Volume ids a VM config names in any key ("local:100/vm-100-disk-0.qcow2,size=1G" -> the volid).
std::set<std::string> referenced_volumes(const json& conf) {
  std::set<std::string> out;
  for (const auto& [key, value] : conf.items()) {
    if (!value.is_string()) continue;
    std::string v = value.get<std::string>();
    std::string first = v.substr(0, v.find(','));
    if (auto eq = first.find('='); eq != std::string::npos) first = first.substr(eq + 1);
    if (first.find(':') != std::string::npos) out.insert(first);
  }
  return out;
}

// `qm rescan [--vmid N] [--dryrun 0|1]`: volumes owned by a VM but named nowhere in its config
// are added as unusedN, so they show up and can be attached or removed.
int rescan(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"vmid", "dryrun", "node"});
  Client client(socket_path(global.data_dir));
  std::string node = a.options.count("node") ? a.options["node"] : local_node(client);
  bool dry = truthy(a.options["dryrun"]);
  ApiReply vms = client.call("GET", "/nodes/" + node + "/qemu", json::object());
  check_reply(vms);
  ApiReply storages = client.call("GET", "/nodes/" + node + "/storage", json{{"content", "images"}});
  check_reply(storages);
  for (const auto& entry : vms.body["data"]) {
    std::string vmid = std::to_string(entry.value("vmid", std::int64_t{0}));
    if (a.options.count("vmid") && a.options["vmid"] != vmid) continue;
    Vm vm{Client(socket_path(global.data_dir)), node, vmid};
    json conf = call_data(vm, "GET", "/config", json{{"current", 1}});
    auto used = referenced_volumes(conf);
    int next = 0;
    for (const auto& st : storages.body["data"]) {
      if (!st.value("active", 0)) continue;
      std::string sid = st.value("storage", "");
      ApiReply content = client.call("GET", "/nodes/" + node + "/storage/" + sid + "/content",
                                     json{{"content", "images"}, {"vmid", std::stoll(vmid)}});
      if (content.status != 200) continue;
      for (const auto& vol : content.body["data"]) {
        std::string volid = vol.value("volid", "");
        if (volid.empty() || used.count(volid)) continue;
        while (conf.contains("unused" + std::to_string(next))) ++next;
        std::string key = "unused" + std::to_string(next++);
        std::cout << "rescan volumes...\nVM " << vmid << " add unreferenced volume '" << volid << "' as '" << key
                  << "' to config\n";
        if (!dry) call_data(vm, "PUT", "/config", json{{key, volid}});
        conf[key] = volid;
        used.insert(volid);
      }
    }
  }
  return 0;
}

// `qm disk import <vmid> <source> <storage> [--format F] [--target-disk KEY]` (also `qm importdisk`)
// through the API's import-from. Without a target disk the volume ends up as unusedN, as in PVE:
// it is imported onto a free scsi slot that is then detached.
int disk_import(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"format", "target-disk", "node"});
  if (a.positional.size() != 3) {
    throw Error("usage: qm disk import <vmid> <source> <storage> [--format raw|qcow2|vmdk] [--target-disk <key>]", 400);
  }
  Vm vm = open_vm(global, a.positional[0], a.options);
  std::string source = a.positional[1];
  if (!source.starts_with("/") && source.find(':') == std::string::npos) {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) source = std::string(cwd) + "/" + source;
  }
  std::string value = a.positional[2] + ":0,import-from=" + source;
  if (a.options.count("format")) value += ",format=" + a.options["format"];
  json conf = call_data(vm, "GET", "/config");
  std::string key = a.options["target-disk"];
  bool as_unused = key.empty();
  if (as_unused) {
    for (int i = 30; i >= 0 && key.empty(); --i) {
      if (!conf.contains("scsi" + std::to_string(i))) key = "scsi" + std::to_string(i);
    }
    if (key.empty()) throw Error("no free disk slot to import onto", 400);
  } else if (conf.contains(key)) {
    throw Error::param("target-disk", "'" + key + "' is already in use");
  }
  json upid = call_data(vm, "POST", "/config", json{{key, value}});
  if (upid.is_string() && follow_task(vm.client, upid.get<std::string>()) != 0) return 255;
  if (as_unused) call_data(vm, "PUT", "/config", json{{"delete", key}});
  json after = call_data(vm, "GET", "/config");
  for (const auto& [k, v] : after.items()) {
    if ((k == key || k.starts_with("unused")) && !conf.contains(k) && v.is_string()) {
      std::cout << "Successfully imported disk as '" << k << ":" << v.get<std::string>() << "'\n";
    }
  }
  return 0;
}

}  // namespace

std::optional<int> run_qm_local(const Args& args, const GlobalOptions& global) {
  if (args.empty()) return std::nullopt;
  Args rest(args.begin() + 1, args.end());
  const std::string& cmd = args[0];
  if (cmd == "terminal") return terminal(rest, global);
  if (cmd == "monitor") return monitor(rest, global);
  if (cmd == "wait") return wait_stopped(rest, global);
  if (cmd == "rescan") return rescan(rest, global);
  if (cmd == "importdisk") return disk_import(rest, global);
  if (cmd == "importovf") return qm_importovf(rest, global);
  if (args.size() >= 2) {
    Args tail(args.begin() + 2, args.end());
    if (cmd == "guest" && args[1] == "exec") return guest_exec(tail, global);
    if (cmd == "disk" && args[1] == "import") return disk_import(tail, global);
  }
  return std::nullopt;
}

std::string qm_local_usage() {
  return "\n  qm terminal <vmid> [--iface serial0] [--escape ^O]\n"
         "\n  qm monitor <vmid>\n"
         "\n  qm guest exec <vmid> [--timeout 30] [--pass-stdin 0|1] [--synchronous 0|1] -- <command> [args]\n"
         "\n  qm wait <vmid> [--timeout N]\n"
         "\n  qm rescan [--vmid N] [--dryrun 0|1]\n"
         "\n  qm disk import <vmid> <source> <storage> [--format raw|qcow2|vmdk] [--target-disk <key>]\n"
         "\n  qm importovf <vmid> <manifest> <storage> [--dryrun 0|1] [--format raw|qcow2|vmdk]\n";
}

}  // namespace pvx::cli
