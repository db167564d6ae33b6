// systemd-networkd: one /etc/systemd/network/<name>.network per interface (Arch, Fedora 25+,
// Ubuntu 17.10+, NixOS, openSUSE with networkd, Debian templates that enabled networkd).
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {

void setup_networkd(Context& ctx) {
  for (const SetupNet* net : ctx.nets()) {
    std::string data = "[Match]\nName = " + net->name + "\n\n[Network]\nDescription = Interface " + net->name +
                       " autoconfigured by pvx\n";
    std::string routes;
    bool dhcp4 = false, dhcp6 = false, accept_ra = false;

    const bool has_v4 = is_static(net->ip);
    if (net->ip == "dhcp") dhcp4 = true;
    if (has_v4) data += "Address = " + net->ip + "\n";
    if (!net->gw.empty()) {
      data += "Gateway = " + net->gw + "\n";
      // A gateway off the subnet needs a link route to be reachable.
      if (has_v4 && !ip_in_cidr(net->gw, net->ip)) routes += "\n[Route]\nDestination = " + net->gw + "/32\nScope = link\n";
    }

    const bool has_v6 = is_static(net->ip6);
    if (net->ip6 == "dhcp") dhcp6 = accept_ra = true;
    if (net->ip6 == "auto") accept_ra = true;
    if (has_v6) data += "Address = " + net->ip6 + "\n";
    if (!net->gw6.empty()) {
      accept_ra = false;  // a fixed gateway: router advertisements would add a second one
      data += "Gateway = " + net->gw6 + "\n";
      if (has_v6 && !ip_in_cidr(net->gw6, net->ip6) && !ip_in_cidr(net->gw6, "fe80::/10")) {
        routes += "\n[Route]\nDestination = " + net->gw6 + "/128\nScope = link\n";
      }
    }

    data += std::string("DHCP = ") + (dhcp4 && dhcp6 ? "yes" : dhcp4 ? "ipv4" : dhcp6 ? "ipv6" : "no") + "\n";
    data += std::string("IPv6AcceptRA = ") + (accept_ra ? "true" : "false") + "\n";
    data += routes;

    ctx.fs.make_dirs("/etc/systemd/network");
    ctx.fs.write("/etc/systemd/network/" + net->name + ".network", data);
  }
}

}  // namespace pvx::guest::lxc::setup
