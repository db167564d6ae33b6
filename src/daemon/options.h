#pragma once
// pvxd's command line.
#include <filesystem>
#include <string>

namespace pvx::daemon {

struct Options {
  std::filesystem::path data_dir = "/var/lib/pvx";
  std::string listen_host = "::";
  unsigned short port = 8006;
  std::string node;  // default: the host name up to the first dot
  bool debug = false;
  // Networking: pvx owns /etc/network/interfaces only when asked; otherwise only its own file.
  bool manage_host_network = false;
  std::filesystem::path interfaces_file = "/etc/network/interfaces";
  bool default_bridge = true;  // the NAT bridge vmbr0 on a fresh host
  // VMs: never try KVM (tests, hosts where KVM hangs); every VM runs with TCG.
  bool no_kvm = false;
};

// Throws pvx::Error(400) naming the bad option; handles --help by printing usage and exiting.
Options parse_options(int argc, char** argv);
std::string default_node_name();

}  // namespace pvx::daemon
