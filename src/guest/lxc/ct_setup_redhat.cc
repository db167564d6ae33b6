// The RHEL family (CentOS, Rocky, Alma, old Fedora): network-scripts ifcfg files before
// release 10, NetworkManager keyfiles from 10 on, where network-scripts are gone.
#include <arpa/inet.h>

#include "base/random.h"
#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

// The connection UUID a file already has, so that restarts do not change it; a new one otherwise.
std::string uuid_of(const Context& ctx, const std::string& path, std::string_view key) {
  if (auto old = ctx.fs.read(path)) {
    for (const auto& line : lines_of(*old)) {
      const std::string_view t = trim(line);
      if (t.rfind(key, 0) == 0 && t.size() > key.size()) return std::string(t.substr(key.size()));
    }
  }
  return random_uuid();
}

bool is_ipv4(const std::string& ip) {
  unsigned char buf[4];
  return ::inet_pton(AF_INET, ip.c_str(), buf) == 1;
}

// KEY=yes in /etc/sysconfig/network, replacing an existing KEY line.
void set_yes(std::vector<std::string>& lines, const std::string& key) {
  for (auto& l : lines) {
    if (l.rfind(key + "=", 0) == 0) {
      l = key + "=yes";
      return;
    }
  }
  lines.push_back(key + "=yes");
}

}  // namespace

void setup_redhat_ifcfg(Context& ctx) {
  ctx.fs.make_dirs("/etc/sysconfig/network-scripts");
  bool any_v4 = false, any_v6 = false;
  for (const SetupNet* net : ctx.nets()) {
    any_v4 = any_v4 || !net->ip.empty();
    any_v6 = any_v6 || !net->ip6.empty();
    const std::string dir = "/etc/sysconfig/network-scripts/";
    const std::string ifcfg = dir + "ifcfg-" + net->name;

    std::string data, routes, routes6, bootproto;
    if (!net->ip.empty() && net->ip != "manual") {
      if (net->ip == "dhcp") {
        bootproto = "dhcp";
      } else if (auto cidr = parse_cidr(net->ip)) {
        bootproto = "none";
        data += "IPADDR=" + cidr->address + "\nNETMASK=" + ipv4_netmask(cidr->prefix) + "\n";
        if (!net->gw.empty()) {
          data += "GATEWAY=" + net->gw + "\n";
          if (!ip_in_cidr(net->gw, net->ip)) {
            routes += net->gw + " dev " + net->name + "\ndefault via " + net->gw + " dev " + net->name + "\n";
          }
        }
      }
    }
    if (!net->ip6.empty() && net->ip6 != "manual") {
      if (bootproto.empty()) bootproto = "none";
      data += "IPV6INIT=yes\n";
      if (net->ip6 == "auto") {
        data += "IPV6_AUTOCONF=yes\n";
      } else if (net->ip6 == "dhcp") {
        data += "DHCPV6C=yes\n";
      } else {
        data += "IPV6ADDR=" + net->ip6 + "\nIPV6_AUTOCONF=no\n";
        if (!net->gw6.empty()) {
          if (!ip_in_cidr(net->gw6, net->ip6) && !ip_in_cidr(net->gw6, "fe80::/10")) {
            routes6 += net->gw6 + " dev " + net->name + "\ndefault via " + net->gw6 + " dev " + net->name + "\n";
          } else {
            data += "IPV6_DEFAULTGW=" + net->gw6 + "\n";
          }
        }
      }
    }
    for (std::size_t i = 0; i < ctx.nameservers.size(); ++i) data += "DNS" + std::to_string(i + 1) + "=" + ctx.nameservers[i] + "\n";
    if (!ctx.searchdomains.empty()) data += "DOMAIN=" + ctx.searchdomains + "\n";
    if (data.empty() && bootproto.empty()) continue;

    const std::string header = "DEVICE=" + net->name + "\nONBOOT=yes\nUUID=" + uuid_of(ctx, ifcfg, "UUID=") +
                               "\nBOOTPROTO=" + bootproto + "\n";
    ctx.fs.write(ifcfg, header + data);
    modify_file(ctx, dir + "route-" + net->name, routes, Placement::prepend, /*delete_if_empty=*/true);
    modify_file(ctx, dir + "route6-" + net->name, routes6, Placement::prepend, /*delete_if_empty=*/true);
  }

  constexpr std::string_view kNetwork = "/etc/sysconfig/network";
  if (auto old = ctx.fs.read(kNetwork)) {
    auto lines = lines_of(*old);
    if (any_v4) set_yes(lines, "NETWORKING");
    if (any_v6) set_yes(lines, "NETWORKING_IPV6");
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    ctx.fs.write(kNetwork, out);
  }
}

void setup_networkmanager(Context& ctx) {
  const std::string dir = "/etc/NetworkManager/system-connections/";
  ctx.fs.make_dirs(dir);
  std::vector<std::string> dns4, dns6;
  for (const auto& ns : ctx.nameservers) (is_ipv4(ns) ? dns4 : dns6).push_back(ns);
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ";") + x;
    return s;
  };
  const std::string search = joined(split_list(ctx.searchdomains));

  for (const SetupNet* net : ctx.nets()) {
    const std::string path = dir + net->name + ".nmconnection";
    std::string data = "[connection]\nid=" + net->name + "\nuuid=" + uuid_of(ctx, path, "uuid=") +
                       "\ntype=ethernet\ninterface-name=" + net->name + "\n";
    auto dns = [&](const std::vector<std::string>& servers) {
      if (servers.empty()) return;
      data += "dns=" + joined(servers) + "\n";
      if (!search.empty()) data += "dns-search=" + search + "\n";
    };

    data += "[ipv4]\n";
    if (!net->ip.empty() && net->ip != "manual") {
      if (net->ip == "dhcp") {
        data += "method=auto\n";
      } else {
        data += "method=manual\naddresses=" + net->ip + "\n";
        if (!net->gw.empty()) {
          data += "gateway=" + net->gw + "\n";
          if (!ip_in_cidr(net->gw, net->ip)) data += "routes=" + net->gw + "\n";
        }
      }
      dns(dns4);
    } else {
      data += "method=disabled\n";
    }

    data += "[ipv6]\n";
    if (!net->ip6.empty() && net->ip6 != "manual") {
      if (net->ip6 == "auto" || net->ip6 == "dhcp") {
        data += "method=auto\n";
      } else {
        data += "method=manual\naddress=" + net->ip6 + "\n";
        if (!net->gw6.empty()) {
          const bool off_link = !ip_in_cidr(net->gw6, net->ip6) && !ip_in_cidr(net->gw6, "fe80::/10");
          data += (off_link ? "routes=" : "gateway=") + net->gw6 + "\n";
        }
      }
      dns(dns6);
    } else {
      data += "method=disabled\n";
    }
    ctx.fs.write(path, data, 0600);  // NetworkManager ignores keyfiles others can read
  }
}

}  // namespace pvx::guest::lxc::setup
