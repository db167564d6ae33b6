#include "daemon/options.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "base/error.h"
#include "schema/formats.h"

namespace pvx::daemon {
namespace {

constexpr const char* kUsage =
    "usage: pvxd [--data-dir DIR] [--listen HOST:PORT] [--node NAME] [--debug] [network options]\n"
    "  --data-dir DIR      state, certificates and logs (default /var/lib/pvx)\n"
    "  --listen HOST:PORT  HTTPS address (default all addresses, port 8006); [::1]:8006 for IPv6\n"
    "  --node NAME         this node's name (default: the host name)\n"
    "  --no-default-bridge do not create the NAT bridge vmbr0 (with DHCP and DNS) at first start\n"
    "  --manage-host-network\n"
    "                      own the host's interfaces file as Proxmox VE does (default: pvx changes\n"
    "                      only the interfaces it created, kept in DIR/network/interfaces)\n"
    "  --interfaces-file F the host's interfaces file (default /etc/network/interfaces)\n"
    "  --no-kvm            run every VM with TCG, without probing KVM\n";

void parse_listen(const std::string& value, Options& o) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos) throw Error::param("listen", "expected HOST:PORT");
  std::string host = value.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(value.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) throw Error::param("listen", "invalid port");
  o.listen_host = host.empty() || host == "*" ? "::" : host == "localhost" ? "127.0.0.1" : host;
  o.port = static_cast<unsigned short>(port);
}

}  // namespace

std::string default_node_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  std::string name = buf;
  return name.substr(0, name.find('.'));
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      auto eq = arg.find('=');
      if (eq != std::string::npos) return arg.substr(eq + 1);
      if (i + 1 >= argc) throw Error::param(arg, "missing value");
      return argv[++i];
    };
    std::string name = arg.substr(0, arg.find('='));
    if (name == "--help" || name == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "--data-dir") {
      o.data_dir = value();
    } else if (name == "--listen") {
      parse_listen(value(), o);
    } else if (name == "--node") {
      o.node = value();
      if (auto err = schema::check_format("pve-node", o.node)) throw Error::param("node", *err);
    } else if (name == "--debug") {
      o.debug = true;
    } else if (name == "--manage-host-network") {
      o.manage_host_network = true;
    } else if (name == "--interfaces-file") {
      o.interfaces_file = value();
    } else if (name == "--no-default-bridge") {
      o.default_bridge = false;
    } else if (name == "--no-kvm") {
      o.no_kvm = true;
    } else {
      throw Error::param(arg, std::string("unknown option\n") + kUsage);
    }
  }
  if (o.node.empty()) o.node = default_node_name();
  return o;
}

}  // namespace pvx::daemon
