#pragma once
// DHCP and DNS for pvx's NAT bridges: one dnsmasq per bridge (Debian's dnsmasq-base), started
// and supervised by pvxd, restarted when it dies. Leases live in the data directory, so guests
// keep their addresses across restarts.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "network/nat.h"

namespace pvx {
class SupervisedProcess;
}

namespace pvx::network {

struct DnsmasqConfig {
  std::string bridge;            // "vmbr0"
  Ipv4Net subnet;                // 10.187.0.0/24; the bridge has the first host address
  std::filesystem::path run_dir;  // leases, pid file: <run_dir>/dnsmasq-<bridge>.{leases,pid}
};

// The bridge's own address (first host address of the subnet) and the DHCP range
// (from .100 up to the last host address, or the upper half of smaller subnets).
std::string gateway_address(const Ipv4Net& subnet);
std::pair<std::string, std::string> dhcp_range(const Ipv4Net& subnet);

// Whether the dnsmasq binary (Debian's dnsmasq-base) is there.
bool dnsmasq_installed();

// dnsmasq's argv: foreground, no config file, bound to the bridge only, authoritative DHCP on
// the range, DNS forwarding from the host's resolv.conf.
std::vector<std::string> dnsmasq_argv(const DnsmasqConfig& config);

// Keeps one dnsmasq per configured bridge running. `update` starts, restarts and stops
// instances so that exactly `configs` run; a dnsmasq left by a previous pvxd (pid file) is
// stopped first. Destruction stops them all.
class DnsmasqSupervisor {
 public:
  DnsmasqSupervisor();
  ~DnsmasqSupervisor();
  void update(const std::vector<DnsmasqConfig>& configs);
  // pid of the running instance for `bridge`, 0 if none (tests kill it to see the restart).
  int pid(const std::string& bridge) const;

 private:
  struct Instance;
  std::vector<std::unique_ptr<Instance>> instances_;
};

}  // namespace pvx::network
