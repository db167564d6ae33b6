// Network configuration of openSUSE (sysconfig ifcfg/ifroute, plus networkd where installed)
// and Gentoo (netifrc's /etc/conf.d/net).
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {

void setup_suse(Context& ctx) {
  ctx.fs.make_dirs("/etc/sysconfig/network");
  for (const SetupNet* net : ctx.nets()) {
    std::string routes;
    std::vector<std::string> addresses;
    bool dhcp4 = false, dhcp6 = false, configured = false;

    if (!net->ip.empty() && net->ip != "manual") {
      configured = true;
      if (net->ip == "dhcp") {
        dhcp4 = true;
      } else {
        addresses.push_back(net->ip);
        if (!net->gw.empty()) {
          if (!ip_in_cidr(net->gw, net->ip)) routes += net->gw + " 0.0.0.0 255.255.255.255 " + net->name + "\n";
          routes += "default " + net->gw + " 0.0.0.0 " + net->name + "\n";
        }
      }
    }
    if (!net->ip6.empty() && net->ip6 != "manual") {
      configured = true;
      if (net->ip6 == "dhcp") {
        dhcp6 = true;
      } else if (net->ip6 != "auto") {  // SLAAC needs no file entry
        addresses.push_back(net->ip6);
        if (!net->gw6.empty()) {
          if (!ip_in_cidr(net->gw6, net->ip6) && !ip_in_cidr(net->gw6, "fe80::/10")) {
            routes += net->gw6 + "/128 - - " + net->name + "\n";
          }
          routes += "default " + net->gw6 + " - " + net->name + "\n";
        }
      }
    }

    std::string data;
    if (addresses.size() > 1) {
      for (std::size_t i = 0; i < addresses.size(); ++i) data += "IPADDR_" + std::to_string(i + 1) + "=" + addresses[i] + "\n";
    } else if (addresses.size() == 1) {
      data += "IPADDR=" + addresses[0] + "\n";
    } else if (configured && !dhcp4 && !dhcp6) {
      continue;  // only SLAAC: nothing to write
    }
    const char* bootproto = dhcp4 && dhcp6 ? "dhcp" : dhcp4 ? "dhcp4" : dhcp6 ? "dhcp6" : "static";
    data = std::string("STARTMODE=") + (configured ? "onboot" : "manual") + "\nBOOTPROTO=" + bootproto + "\n" + data;
    ctx.fs.write("/etc/sysconfig/network/ifcfg-" + net->name, data);
    modify_file(ctx, "/etc/sysconfig/network/ifroute-" + net->name, routes, Placement::prepend, /*delete_if_empty=*/true);
  }
  if (ctx.fs.is_file("/usr/lib/systemd/systemd-networkd")) setup_networkd(ctx);
}

void setup_gentoo(Context& ctx) {
  std::string data = "modules=\"$modules ifconfig\"\n";
  std::vector<std::string> up;
  for (const SetupNet* net : ctx.nets()) {
    std::string config, routes;
    const bool has_v4 = is_static(net->ip);
    if (net->ip == "dhcp") config += "dhcp\n";
    if (has_v4) config += net->ip + "\n";
    if (!net->gw.empty()) {
      if (has_v4 && !ip_in_cidr(net->gw, net->ip)) routes += "-host " + net->gw + " dev " + net->name + "\n";
      routes += "default gw " + net->gw + "\n";
    }
    // DHCPv6 is left out: the templates' busybox udhcpc cannot do it.
    const bool has_v6 = is_static(net->ip6);
    if (has_v6) config += net->ip6 + "\n";
    if (!net->gw6.empty()) {
      if (has_v6 && !ip_in_cidr(net->gw6, net->ip6)) routes += "-6 -host " + net->gw6 + " dev " + net->name + "\n";
      routes += "-6 default gw " + net->gw6 + "\n";
    }
    if (!config.empty() || !routes.empty()) up.push_back(net->name);
    if (!config.empty()) config.pop_back();
    if (!routes.empty()) routes.pop_back();
    if (!config.empty()) data += "config_" + net->name + "=\"" + config + "\"\n";
    if (!routes.empty()) data += "routes_" + net->name + "=\"" + routes + "\"\n";
  }
  ctx.fs.make_dirs("/etc/conf.d");
  modify_file(ctx, "/etc/conf.d/net", data, Placement::replace);
  // netifrc starts net.<iface> services, which are symlinks to net.lo.
  if (!ctx.fs.is_dir("/etc/init.d")) return;
  for (const auto& name : up) ctx.fs.symlink("net.lo", "/etc/init.d/net." + name);
}

}  // namespace pvx::guest::lxc::setup
