#include "network/guest_port.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "network/interfaces.h"
#include "network/netlink.h"

namespace pvx::network {
namespace {

constexpr int kMaxVid = 4094;
constexpr long long kRateBurstBytes = 1024 * 1024;  // PVE's burst, both directions
constexpr std::size_t kMaxIfname = 15;

bool valid_vid(int vid) { return vid >= 1 && vid <= kMaxVid; }

// Bridge ports that lead off the host, which PVE extends into `<bridge>v<tag>`: NICs, bonds
// and VLAN devices. A dummy stands in for a NIC on hosts (and tests) without one.
bool is_uplink(const LinkState& l) {
  return l.physical || l.kind.empty() || l.kind == "bond" || l.kind == "vlan" || l.kind == "dummy";
}

// A bridge port needs no IPv6 link-local address of its own (PVE drops it too). Best effort:
// IPv6 may be off entirely.
void disable_ipv6(const std::string& ifname) {
  std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::ofstream out(path);
  out << "1\n";
}

// Creation that tolerates losing a race: another guest starting at the same time may have made
// the same device a moment earlier.
template <class Create>
void ensure_link(Netlink& nl, const std::string& name, Create create) {
  if (nl.link(name)) return;
  try {
    create();
  } catch (const Error&) {
    if (!nl.link(name)) throw;
  }
}

// PVE's VLAN on a plain bridge: bridge `<bridge>v<tag>` joined by `<uplink>.<tag>` of each uplink.
std::string vlan_bridge(Netlink& nl, const LinkState& bridge, int tag) {
  std::string vbridge = bridge.name + "v" + std::to_string(tag);
  if (vbridge.size() > kMaxIfname) throw Error("VLAN bridge name '" + vbridge + "' is too long", 500);
  std::vector<std::string> uplinks;
  for (const auto& l : nl.links()) {
    if (l.master == bridge.name && is_uplink(l)) uplinks.push_back(l.name);
  }
  if (uplinks.empty()) {
    throw Error("no physical interface on bridge '" + bridge.name + "' for VLAN " + std::to_string(tag), 400);
  }

  ensure_link(nl, vbridge, [&] {
    nl.create_bridge(vbridge);
    nl.set_bridge_stp(vbridge, false, 0);  // PVE's bridge defaults
  });
  nl.set_mtu(vbridge, bridge.mtu);
  for (const auto& uplink : uplinks) {
    std::string vlan = uplink + "." + std::to_string(tag);
    if (vlan.size() > kMaxIfname) throw Error("VLAN device name '" + vlan + "' is too long", 500);
    ensure_link(nl, vlan, [&] {
      nl.create_vlan(vlan, uplink, tag);
      disable_ipv6(vlan);
    });
    nl.set_up(vlan, true);
    auto dev = nl.link(vlan);
    if (!dev) throw Error("VLAN device '" + vlan + "' vanished", 500);
    if (dev->master == vbridge) continue;
    if (!dev->master.empty()) throw Error("interface '" + vlan + "' is already a port of '" + dev->master + "'", 500);
    try {
      nl.set_mtu(vlan, bridge.mtu);
    } catch (const Error& e) {
      log::warn(std::string("network: ") + e.what());  // the bridge then runs at the lower MTU
    }
    nl.set_master(vlan, vbridge);
  }
  disable_ipv6(vbridge);
  nl.set_up(vbridge, true);
  return vbridge;
}

// PVE's VLANs of a port on a VLAN-aware bridge: the access tag (or 1) untagged as PVID, plus
// the trunks tagged, or every other VLAN when there is neither a tag nor trunks.
void set_port_vlans(Netlink& nl, const std::string& ifname, std::optional<int> tag,
                    const std::vector<std::pair<int, int>>& trunks) {
  nl.del_port_vlan(ifname, 1, kMaxVid);
  if (!trunks.empty()) {
    for (auto [first, last] : trunks) nl.add_port_vlan(ifname, first, false, false, last > first ? last : 0);
  } else if (!tag) {
    nl.add_port_vlan(ifname, 2, false, false, kMaxVid);
  }
  nl.add_port_vlan(ifname, tag.value_or(1), true, true);
}

void clear_rate(const std::string& ifname) {
  if (!command_exists("tc")) return;
  // Either may be missing: there may be no limit to remove.
  CommandOptions quiet{.timeout = std::chrono::seconds(10), .check = false};
  run_command({"tc", "qdisc", "del", "dev", ifname, "root"}, quiet);
  run_command({"tc", "qdisc", "del", "dev", ifname, "ingress"}, quiet);
}

}  // namespace

void plug_guest_port(Netlink& nl, const GuestPort& port) {
  if (port.tag && !valid_vid(*port.tag)) throw Error::param("tag", "VLAN tag must be 1-4094");
  for (auto [first, last] : port.trunks) {
    if (!valid_vid(first) || !valid_vid(last) || last < first) {
      throw Error::param("trunks", "VLAN trunks must be IDs or ranges within 1-4094");
    }
  }
  auto bridge = nl.link(port.bridge);
  if (!bridge || bridge->kind != "bridge") throw Error("bridge '" + port.bridge + "' does not exist", 400);
  if (!bridge->vlan_filtering && !port.trunks.empty()) {
    throw Error("VLAN trunks on '" + port.ifname + "' need a VLAN-aware bridge, and '" + port.bridge + "' is not", 400);
  }
  if (!nl.link(port.ifname)) {
    throw Error("cannot plug '" + port.ifname + "' into '" + port.bridge + "': device '" + port.ifname +
                "' does not exist", 500);
  }

  try {
    std::string target = port.bridge;
    if (!bridge->vlan_filtering && port.tag) target = vlan_bridge(nl, *bridge, *port.tag);
    disable_ipv6(port.ifname);
    nl.set_master(port.ifname, target);
    if (bridge->vlan_filtering) set_port_vlans(nl, port.ifname, port.tag, port.trunks);
    nl.set_mtu(port.ifname, port.mtu.value_or(bridge->mtu));
    nl.set_up(port.ifname, !port.link_down);
    set_guest_port_rate(port.ifname, port.rate_mbps);
  } catch (...) {
    // A port half in a bridge could carry traffic on the wrong VLAN: leave it detached.
    try {
      nl.set_master(port.ifname, "");
    } catch (const Error& e) {
      log::warn(std::string("network: ") + e.what());
    }
    throw;
  }
}

void unplug_guest_port(Netlink& nl, const std::string& ifname) {
  auto dev = nl.link(ifname);
  if (!dev) return;
  if (!dev->master.empty()) nl.set_master(ifname, "");
  clear_rate(ifname);
}

void set_guest_port_link(Netlink& nl, const std::string& ifname, bool link_down) { nl.set_up(ifname, !link_down); }

void set_guest_port_rate(const std::string& ifname, std::optional<double> rate_mbps) {
  clear_rate(ifname);
  // PVE's `rate` is in MB/s; tc's "bps" unit is bytes per second.
  long long bytes = rate_mbps && std::isfinite(*rate_mbps) && *rate_mbps > 0
                        ? static_cast<long long>(*rate_mbps * 1024 * 1024)
                        : 0;
  if (bytes <= 0) return;
  std::string rate = std::to_string(bytes) + "bps";
  std::string burst = std::to_string(kRateBurstBytes) + "b";
  CommandOptions opts{.timeout = std::chrono::seconds(10)};
  try {
    // Traffic to the guest: an HTB class on the egress root (PVE found tbf unreliable here).
    run_command({"tc", "qdisc", "add", "dev", ifname, "root", "handle", "1:", "htb", "default", "1"}, opts);
    run_command({"tc", "class", "add", "dev", ifname, "parent", "1:", "classid", "1:1", "htb", "rate", rate, "burst",
                 burst},
                opts);
    // Traffic from the guest: a policer on ingress, dropping what exceeds the rate.
    run_command({"tc", "qdisc", "add", "dev", ifname, "handle", "ffff:", "ingress"}, opts);
    run_command({"tc", "filter", "add", "dev", ifname, "parent", "ffff:", "prio", "50", "basic", "police", "rate", rate,
                 "burst", burst, "mtu", "64kb", "drop"},
                opts);
  } catch (const Error& e) {
    clear_rate(ifname);
    throw Error("cannot limit the rate of '" + ifname + "': " + e.what(), 500);
  }
}

std::vector<std::pair<int, int>> parse_trunks(const std::string& text) {
  std::vector<std::pair<int, int>> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string piece = text.substr(start, end - start);
    auto range = parse_vlan_range(piece);
    if (!range) {
      throw Error::param("trunks",
                         "invalid VLAN trunk '" + piece + "': expected IDs or ranges within 1-4094 separated by ';'");
    }
    out.push_back(*range);
    start = end + 1;
  }
  return out;
}

}  // namespace pvx::network
