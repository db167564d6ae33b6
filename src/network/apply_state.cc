// Recording the kernel state of the devices an apply touches, and putting it back when the
// apply fails half way.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <sstream>

#include "base/error.h"
#include "network/apply_internal.h"

namespace pvx::network::apply_detail {
namespace {

constexpr int kMainTable = 254;
constexpr int kProtoKernel = 2;    // prefix routes of addresses: they come and go with the address
constexpr int kProtoRa = 9;        // IPv6 router advertisements renew these themselves
constexpr unsigned kUserHz = 100;  // unit of the bridge timers the kernel reports

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool contains_route(const std::vector<RouteState>& list, const RouteState& route) {
  return std::any_of(list.begin(), list.end(), [&](const RouteState& r) { return same_route(r, route); });
}

std::map<std::string, LinkState> links_by_name(Netlink& nl) {
  std::map<std::string, LinkState> out;
  for (auto& link : nl.links()) out.emplace(link.name, std::move(link));
  return out;
}

bool creatable(const std::string& kind) { return kind == "bridge" || kind == "bond" || kind == "vlan"; }

std::string kind_text(const std::string& kind) { return kind.empty() ? "device" : kind; }

std::string route_text(const RouteState& r) {
  return "route " + r.dst + (r.gateway.empty() ? "" : " via " + r.gateway) + " on " + r.ifname;
}

// Lower devices first: a bond passes its MTU to its slaves, a VLAN cannot exceed its raw device.
int layer(const LinkState& link) {
  if (link.kind == "vlan") return 2;
  if (link.kind == "bond" || link.kind == "bridge") return 0;
  return 1;
}

}  // namespace

BondOptions bond_options_of(const LinkState& link) {
  BondOptions o;
  o.mode = link.bond_mode;
  o.miimon = link.bond_miimon;
  o.xmit_hash_policy = link.bond_xmit_hash_policy;
  o.primary = link.bond_primary;
  return o;
}

void recreate(Netlink& nl, const LinkState& link) {
  if (link.kind == "bridge") {
    nl.create_bridge(link.name);
  } else if (link.kind == "bond") {
    auto options = bond_options_of(link);
    options.primary.clear();  // only once the slaves are back
    nl.create_bond(link.name, options);
  } else if (link.kind == "vlan") {
    nl.create_vlan(link.name, link.vlan_parent, link.vlan_id,
                   link.vlan_protocol.empty() ? "802.1Q" : link.vlan_protocol);
  } else {
    throw Error("'" + link.name + "' (" + kind_text(link.kind) + ") cannot be made again", 500);
  }
}

std::optional<BridgeStp> read_bridge_stp(Netlink& nl, const std::string& bridge) {
  auto link = nl.link(bridge);
  if (!link || link->kind != "bridge") return std::nullopt;
  return BridgeStp{.on = link->bridge_stp, .forward_delay = link->bridge_forward_delay};
}

std::vector<std::string> permanent_addresses(Netlink& nl, const std::string& ifname) {
  std::vector<std::string> out;
  for (const auto& a : nl.addresses(ifname)) {
    if (a.ifname != ifname || !a.permanent) continue;
    auto cidr = normalize_cidr(a.cidr);
    if (!cidr || (a.family == AF_INET6 && cidr->rfind("fe80:", 0) == 0)) continue;
    out.push_back(*cidr);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<RouteState> own_routes(const std::vector<RouteState>& all, const std::string& ifname) {
  std::vector<RouteState> out;
  for (auto r : all) {
    if (r.ifname != ifname || r.table != kMainTable || r.protocol == kProtoKernel || r.protocol == kProtoRa) continue;
    if (!r.gateway.empty()) r.gateway = normalize_ip(r.gateway).value_or(r.gateway);
    out.push_back(std::move(r));
  }
  return out;
}

bool same_route(const RouteState& a, const RouteState& b) {
  return a.dst == b.dst && a.gateway == b.gateway && a.ifname == b.ifname && a.family == b.family && a.table == b.table;
}

void sync_vlans(Netlink& nl, const std::string& ifname, bool self, const std::vector<PortVlan>& current,
                const std::vector<PortVlan>& wanted) {
  std::map<int, PortVlan> have;
  std::map<int, PortVlan> want;
  for (const auto& v : current) have[v.vid] = v;
  for (const auto& v : wanted) want[v.vid] = v;

  // Contiguous runs as one request each: 2-4094 is one change, not 4093.
  auto runs = [](const std::vector<PortVlan>& list, auto&& apply) {
    for (std::size_t i = 0; i < list.size();) {
      std::size_t j = i;
      // The kernel takes a PVID only for a single VLAN, never for a range.
      while (!list[i].pvid && j + 1 < list.size() && list[j + 1].vid == list[j].vid + 1 && !list[j + 1].pvid &&
             list[j + 1].untagged == list[i].untagged) {
        ++j;
      }
      apply(list[i], list[j].vid);
      i = j + 1;
    }
  };

  std::vector<PortVlan> drop;
  for (const auto& [vid, v] : have) {
    if (!want.count(vid)) drop.push_back(v);
  }
  std::vector<PortVlan> add;
  for (const auto& [vid, v] : want) {
    auto it = have.find(vid);
    if (it == have.end() || it->second.pvid != v.pvid || it->second.untagged != v.untagged) add.push_back(v);
  }
  runs(drop, [&](const PortVlan& first, int last) {
    nl.del_port_vlan(ifname, first.vid, last == first.vid ? 0 : last, self);
  });
  runs(add, [&](const PortVlan& first, int last) {
    nl.add_port_vlan(ifname, first.vid, first.pvid, first.untagged, last == first.vid ? 0 : last, self);
  });
}

Snapshot take_snapshot(Netlink& nl, const std::set<std::string>& names) {
  auto links = links_by_name(nl);
  std::set<std::string> all = names;
  for (bool grown = true; grown;) {
    grown = false;
    for (const auto& [name, link] : links) {
      if (all.count(name)) continue;
      if (all.count(link.master) || (link.kind == "vlan" && all.count(link.vlan_parent))) {
        all.insert(name);
        grown = true;
      }
    }
  }

  auto routes = nl.routes();
  Snapshot snapshot;
  for (const auto& name : all) {
    DeviceState& state = snapshot[name];
    auto it = links.find(name);
    if (it == links.end()) continue;
    const LinkState& link = it->second;
    state.link = link;
    auto master = links.find(link.master);
    bool bridge_port = master != links.end() && master->second.kind == "bridge";
    if (link.kind == "bridge") state.stp = BridgeStp{.on = link.bridge_stp, .forward_delay = link.bridge_forward_delay};
    if (link.kind == "bridge" || bridge_port) {
      try {
        state.vlans = nl.port_vlans(name);
      } catch (const Error&) {
        // Not readable (no VLAN support in this kernel): then nothing changes them either.
      }
    }
    state.addresses = permanent_addresses(nl, name);
    state.routes = own_routes(routes, name);
  }
  return snapshot;
}

std::vector<std::string> differences(const Snapshot& before, const Snapshot& after) {
  std::vector<std::string> out;
  static const DeviceState kAbsent;
  for (const auto& [name, was] : before) {
    auto found = after.find(name);
    const DeviceState& now = found == after.end() ? kAbsent : found->second;
    if (!was.link || !now.link) {
      if (was.link) out.push_back("'" + name + "' is missing");
      if (now.link) out.push_back("'" + name + "' exists but did not before");
      continue;
    }
    const LinkState& a = *was.link;
    const LinkState& b = *now.link;
    auto differ = [&](const std::string& what, const auto& x, const auto& y) {
      if (x == y) return;
      std::ostringstream line;
      line << name << ": " << what << " is " << y << ", was " << x;
      out.push_back(line.str());
    };
    differ("kind", a.kind, b.kind);
    differ("master", a.master, b.master);
    differ("mtu", a.mtu, b.mtu);
    differ("up", a.up, b.up);
    if (a.kind == "bridge") differ("VLAN filtering", a.vlan_filtering, b.vlan_filtering);
    if (a.kind == "vlan") {
      differ("raw device", a.vlan_parent, b.vlan_parent);
      differ("VLAN id", a.vlan_id, b.vlan_id);
    }
    if (a.kind == "bond") {
      differ("bond mode", a.bond_mode, b.bond_mode);
      differ("miimon", a.bond_miimon, b.bond_miimon);
      differ("xmit hash policy", a.bond_xmit_hash_policy, b.bond_xmit_hash_policy);
      differ("primary", a.bond_primary, b.bond_primary);
    }
    if (was.stp && now.stp && !(*was.stp == *now.stp)) out.push_back(name + ": STP settings differ");
    if (was.vlans && now.vlans && !same_vlans(*was.vlans, *now.vlans)) {
      out.push_back(name + ": VLANs are " + vlans_text(*now.vlans) + ", were " + vlans_text(*was.vlans));
    }
    for (const auto& a : was.addresses) {
      if (!contains(now.addresses, a)) out.push_back(name + ": address " + a + " is missing");
    }
    for (const auto& a : now.addresses) {
      if (!contains(was.addresses, a)) out.push_back(name + ": address " + a + " was not there");
    }
    for (const auto& r : was.routes) {
      if (!contains_route(now.routes, r)) out.push_back(route_text(r) + " is missing");
    }
    for (const auto& r : now.routes) {
      if (!contains_route(was.routes, r)) out.push_back(route_text(r) + " was not there");
    }
  }
  return out;
}

std::vector<std::string> restore(Netlink& nl, const Snapshot& before, const LogFn& log) {
  std::vector<std::string> failed;
  auto fix = [&](const std::string& what, const std::function<void()>& action) {
    if (log) log("undo: " + what);
    try {
      action();
    } catch (const std::exception& e) {
      failed.push_back(what + ": " + e.what());
      if (log) log("undo failed: " + what + ": " + e.what());
    }
  };

  // Devices that must go: made by the apply, or of another kind or VLAN than before. VLANs
  // first; deleting their raw device would take them along anyway.
  auto links = links_by_name(nl);
  for (bool vlans : {true, false}) {
    for (const auto& [name, was] : before) {
      auto it = links.find(name);
      if (it == links.end() || (it->second.kind == "vlan") != vlans) continue;
      const LinkState& now = it->second;
      bool same =
          was.link && was.link->kind == now.kind &&
          (now.kind != "vlan" || (was.link->vlan_parent == now.vlan_parent && was.link->vlan_id == now.vlan_id));
      if (same) continue;
      if (!creatable(now.kind)) {
        failed.push_back("'" + name + "' (" + kind_text(now.kind) + ") is not what it was and cannot be removed");
        continue;
      }
      fix("delete " + now.kind + " " + name, [&] { nl.delete_link(name); });
    }
  }

  // Devices that must come back; a VLAN only once its raw device is there.
  links = links_by_name(nl);
  std::vector<const LinkState*> missing;
  for (const auto& [name, was] : before) {
    if (was.link && !links.count(name)) missing.push_back(&*was.link);
  }
  for (bool progress = true; progress && !missing.empty();) {
    progress = false;
    for (auto it = missing.begin(); it != missing.end();) {
      const LinkState& link = **it;
      if (link.kind == "vlan" && !links.count(link.vlan_parent)) {
        ++it;
        continue;
      }
      if (creatable(link.kind)) {
        fix("create " + link.kind + " " + link.name, [&] { recreate(nl, link); });
      } else {
        failed.push_back("'" + link.name + "' (" + kind_text(link.kind) + ") is gone and cannot be made again");
      }
      links[link.name] = link;
      it = missing.erase(it);
      progress = true;
    }
  }
  for (const auto* link : missing) {
    failed.push_back("cannot make VLAN '" + link->name + "' again: its raw device '" + link->vlan_parent +
                     "' is missing");
  }

  // Bond options; the mode changes only while the bond is down and has no slaves.
  links = links_by_name(nl);
  for (const auto& [name, was] : before) {
    auto it = links.find(name);
    if (!was.link || was.link->kind != "bond" || it == links.end() || it->second.kind != "bond") continue;
    const LinkState& now = it->second;
    const LinkState& then = *was.link;
    if (then.bond_mode == now.bond_mode && then.bond_miimon == now.bond_miimon &&
        then.bond_xmit_hash_policy == now.bond_xmit_hash_policy) {
      continue;
    }
    if (then.bond_mode != now.bond_mode) {
      for (const auto& [slave, link] : links) {
        if (link.master == name) fix("remove " + slave + " from bond " + name, [&] { nl.set_master(slave, ""); });
      }
      if (now.up) fix("set " + name + " down", [&] { nl.set_up(name, false); });
    }
    auto options = bond_options_of(then);
    options.primary = then.bond_mode != now.bond_mode ? std::string() : now.bond_primary;
    fix("set options of bond " + name, [&] { nl.set_bond_options(name, options); });
  }

  // Masters.
  links = links_by_name(nl);
  for (const auto& [name, was] : before) {
    auto it = links.find(name);
    if (!was.link || it == links.end() || it->second.master == was.link->master) continue;
    const std::string& master = was.link->master;
    fix(master.empty() ? "release " + name + " from " + it->second.master : "add " + name + " to " + master,
        [&] { nl.set_master(name, master); });
  }

  // Bond primaries, now that the slaves are back.
  links = links_by_name(nl);
  for (const auto& [name, was] : before) {
    auto it = links.find(name);
    if (!was.link || was.link->kind != "bond" || it == links.end() || it->second.kind != "bond") continue;
    if (it->second.bond_primary == was.link->bond_primary || !bond_uses_primary(was.link->bond_mode)) continue;
    fix("set primary of bond " + name, [&] { nl.set_bond_options(name, bond_options_of(*was.link)); });
  }

  // MTU.
  for (int rank : {0, 1, 2}) {
    links = links_by_name(nl);
    for (const auto& [name, was] : before) {
      auto it = links.find(name);
      if (!was.link || it == links.end() || layer(it->second) != rank || it->second.mtu == was.link->mtu) continue;
      fix("set mtu " + std::to_string(was.link->mtu) + " on " + name, [&] { nl.set_mtu(name, was.link->mtu); });
    }
  }

  // Bridge settings and VLANs.
  links = links_by_name(nl);
  for (const auto& [name, was] : before) {
    auto it = links.find(name);
    if (!was.link || it == links.end()) continue;
    const LinkState& now = it->second;
    if (now.kind == "bridge" && was.link->kind == "bridge") {
      if (now.vlan_filtering != was.link->vlan_filtering) {
        fix("set VLAN filtering of " + name, [&] { nl.set_bridge_vlan_filtering(name, was.link->vlan_filtering); });
      }
      if (was.stp) {
        auto stp = read_bridge_stp(nl, name);
        if (!stp || !(*stp == *was.stp)) {
          fix("set STP of " + name, [&] { nl.set_bridge_stp(name, was.stp->on, was.stp->forward_delay); });
        }
      }
    }
    if (was.vlans) {
      std::vector<PortVlan> current;
      try {
        current = nl.port_vlans(name);
      } catch (const std::exception& e) {
        failed.push_back("reading VLANs of " + name + ": " + e.what());
        continue;
      }
      if (same_vlans(current, *was.vlans)) continue;
      fix("set VLANs of " + name + " to " + vlans_text(*was.vlans),
          [&] { sync_vlans(nl, name, now.kind == "bridge", current, *was.vlans); });
    }
  }

  // Down what was down, before the addresses: going down drops IPv6 addresses.
  links = links_by_name(nl);
  for (const auto& [name, was] : before) {
    auto it = links.find(name);
    if (!was.link || it == links.end() || !it->second.up || was.link->up) continue;
    fix("set " + name + " down", [&] { nl.set_up(name, false); });
  }

  // Addresses.
  for (const auto& [name, was] : before) {
    if (!was.link || !links.count(name)) continue;
    std::vector<std::string> now;
    try {
      now = permanent_addresses(nl, name);
    } catch (const std::exception& e) {
      failed.push_back(std::string("reading addresses of ") + name + ": " + e.what());
      continue;
    }
    for (const auto& a : now) {
      if (!contains(was.addresses, a)) fix("remove " + a + " from " + name, [&] { nl.del_address(name, a); });
    }
    for (const auto& a : was.addresses) {
      if (!contains(now, a)) fix("add " + a + " to " + name, [&] { nl.add_address(name, a); });
    }
  }

  // Up what was up, lower devices first.
  for (int rank : {0, 1, 2}) {
    links = links_by_name(nl);
    for (const auto& [name, was] : before) {
      auto it = links.find(name);
      if (!was.link || it == links.end() || layer(it->second) != rank || it->second.up || !was.link->up) continue;
      fix("set " + name + " up", [&] { nl.set_up(name, true); });
    }
  }

  // Routes: those that went with an address or a device, and default routes the apply added.
  std::vector<RouteState> routes;
  try {
    routes = nl.routes();
  } catch (const std::exception& e) {
    failed.push_back(std::string("reading routes: ") + e.what());
    return failed;
  }
  for (const auto& [name, was] : before) {
    if (!was.link || !links.count(name)) continue;
    auto now = own_routes(routes, name);
    for (const auto& r : now) {
      if (r.dst == "default" && !contains_route(was.routes, r))
        fix("remove " + route_text(r), [&] { nl.del_route(r); });
    }
    for (const auto& r : was.routes) {
      if (!contains_route(now, r)) fix("add " + route_text(r), [&] { nl.add_route(r); });
    }
  }
  return failed;
}

}  // namespace pvx::network::apply_detail
