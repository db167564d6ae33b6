#include "network/dnsmasq.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/supervised_process.h"

namespace pvx::network {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Gateway, broadcast and at least one address to lease: /30 is the smallest usable subnet.
void check_subnet(const Ipv4Net& subnet) {
  if (subnet.prefix < 1 || subnet.prefix > 30) {
    throw Error("subnet " + subnet.text() + " is too small or too large for a NAT bridge", 400);
  }
}

fs::path lease_file(const DnsmasqConfig& c) { return c.run_dir / ("dnsmasq-" + c.bridge + ".leases"); }
fs::path pid_file(const DnsmasqConfig& c) { return c.run_dir / ("dnsmasq-" + c.bridge + ".pid"); }

std::string dnsmasq_binary() {
  constexpr const char* kDebianPath = "/usr/sbin/dnsmasq";
  if (::access(kDebianPath, X_OK) == 0) return kDebianPath;
  return "dnsmasq";  // found in PATH when started, or reported as missing there
}

// dnsmasq needs root only to start: it opens the lease file and writes the pid file, then
// drops to this user keeping just the capabilities DHCP needs (NET_ADMIN, NET_RAW,
// NET_BIND_SERVICE), and keeps writing leases through the descriptor it already holds. So the
// root-owned run directory works without `--user=root`, and a process parsing guests' DHCP and
// DNS packets does not keep root. Debian's dnsmasq-base defaults to `nobody`; the dedicated
// `dnsmasq` account (created by Debian's dnsmasq package) shares nothing with other daemons.
std::string dnsmasq_user() {
  struct passwd pw, *found = nullptr;
  char buf[1024];
  if (::getpwnam_r("dnsmasq", &pw, buf, sizeof buf, &found) == 0 && found) return "dnsmasq";
  return "nobody";
}

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return std::string(trim(line));
}

// A dnsmasq left by a previous pvxd that died without stopping it would hold the bridge's
// sockets. It is ours only if it still runs dnsmasq with this very pid file.
void stop_stale(const DnsmasqConfig& config) {
  const fs::path pidfile = pid_file(config);
  std::string text = read_first_line(pidfile);
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), ::isdigit)) return;
  int pid = std::stoi(text);
  if (pid <= 1 || pid == ::getpid()) return;
  const std::string proc = "/proc/" + std::to_string(pid);
  if (read_first_line(proc + "/comm") != "dnsmasq") return;
  std::ifstream cmd(proc + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', '\n');
  if (cmdline.find("\n--pid-file=" + pidfile.string() + "\n") == std::string::npos) return;

  log::warn("stopping dnsmasq (pid " + std::to_string(pid) + ") left running for " + config.bridge);
  // Not our child: its own parent (or init) reaps it; a zombie has released its sockets.
  auto running = [&] {
    std::ifstream stat(proc + "/stat");
    std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = all.rfind(')');
    return paren != std::string::npos && paren + 2 < all.size() && all[paren + 2] != 'Z' && all[paren + 2] != 'X';
  };
  for (int sig : {SIGTERM, SIGKILL}) {
    ::kill(pid, sig);
    for (int i = 0; i < 40 && running(); ++i) std::this_thread::sleep_for(50ms);
    if (!running()) return;
  }
}

bool same(const DnsmasqConfig& a, const DnsmasqConfig& b) {
  return a.bridge == b.bridge && a.subnet.address == b.subnet.address && a.subnet.prefix == b.subnet.prefix &&
         a.run_dir == b.run_dir;
}

}  // namespace

std::string gateway_address(const Ipv4Net& subnet) {
  check_subnet(subnet);
  return ipv4_text(subnet.network().address + 1);
}

std::pair<std::string, std::string> dhcp_range(const Ipv4Net& subnet) {
  check_subnet(subnet);
  const unsigned network = subnet.network().address;
  const unsigned broadcast = network | ~subnet.mask();
  const unsigned size = broadcast - network + 1;
  // .2-.99 stay free for static guests in a /24 or larger; small subnets lease their upper half.
  const unsigned first = size >= 256 ? network + 100 : network + size / 2;
  return {ipv4_text(first), ipv4_text(broadcast - 1)};
}

bool dnsmasq_installed() { return command_exists(dnsmasq_binary()); }

std::vector<std::string> dnsmasq_argv(const DnsmasqConfig& config) {
  check_bridge_name(config.bridge, "dnsmasq");
  const std::string gw = gateway_address(config.subnet);
  const auto [first, last] = dhcp_range(config.subnet);
  return {
      dnsmasq_binary(),
      "--keep-in-foreground",
      "--conf-file=/dev/null",  // nothing from a system dnsmasq's configuration
      "--user=" + dnsmasq_user(),
      // One instance per bridge, each bound to its own bridge only. --bind-dynamic rather than
      // --bind-interfaces: it also starts (and keeps serving) while the bridge's address is
      // missing or re-added, instead of exiting until the address is there.
      "--bind-dynamic",
      "--interface=" + config.bridge,
      "--except-interface=lo",  // --interface would add loopback, where the host's resolver may listen
      "--listen-address=" + gw,
      "--dhcp-range=" + first + "," + last + "," + ipv4_text(config.subnet.mask()) + ",1h",
      "--dhcp-leasefile=" + lease_file(config).string(),
      "--pid-file=" + pid_file(config).string(),
      "--dhcp-authoritative",
      "--dhcp-no-override",
      "--strict-order",
      "--log-facility=-",
      "--dhcp-option=option:router," + gw,
      "--dhcp-option=option:dns-server," + gw,
  };
}

struct DnsmasqSupervisor::Instance {
  DnsmasqConfig config;
  std::unique_ptr<SupervisedProcess> process;
};

DnsmasqSupervisor::DnsmasqSupervisor() = default;
DnsmasqSupervisor::~DnsmasqSupervisor() = default;

void DnsmasqSupervisor::update(const std::vector<DnsmasqConfig>& configs) {
  for (std::size_t i = 0; i < configs.size(); ++i) {
    dnsmasq_argv(configs[i]);  // validates before anything is stopped
    for (std::size_t j = 0; j < i; ++j) {
      if (configs[i].bridge == configs[j].bridge) throw Error("dnsmasq configured twice for " + configs[i].bridge, 400);
    }
  }
  // Stop first: a changed instance must free the bridge's sockets before its successor binds.
  std::erase_if(instances_, [&](const std::unique_ptr<Instance>& inst) {
    return std::none_of(configs.begin(), configs.end(), [&](const DnsmasqConfig& c) { return same(c, inst->config); });
  });
  for (const auto& config : configs) {
    bool running = std::any_of(instances_.begin(), instances_.end(),
                               [&](const std::unique_ptr<Instance>& inst) { return same(config, inst->config); });
    if (running) continue;
    auto inst = std::make_unique<Instance>();
    inst->config = config;
    SupervisedOptions options{.name = "dnsmasq " + config.bridge,
                              .argv = dnsmasq_argv(config),
                              .before_start = [config] {
                                fs::create_directories(config.run_dir);
                                stop_stale(config);
                              }};
    inst->process = std::make_unique<SupervisedProcess>(std::move(options));
    instances_.push_back(std::move(inst));
  }
}

int DnsmasqSupervisor::pid(const std::string& bridge) const {
  for (const auto& inst : instances_) {
    if (inst->config.bridge == bridge) return inst->process->pid();
  }
  return 0;
}

}  // namespace pvx::network
