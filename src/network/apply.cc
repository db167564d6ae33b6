#include "network/apply.h"

#include <sys/socket.h>

#include <algorithm>
#include <exception>

#include "base/error.h"
#include "base/log.h"
#include "network/apply_internal.h"
#include "network/netlink.h"

namespace pvx::network {
namespace {

using namespace apply_detail;

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string family_text(int family) { return family == AF_INET6 ? "inet6" : "inet"; }

std::string join(const std::vector<std::string>& list, const std::string& separator) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : separator) + item;
  return out;
}

// One apply: the steps it made and how to take each back.
class Applier {
 public:
  Applier(Netlink& nl, const InterfacesFile& previous, const InterfacesFile& next, const std::set<std::string>& owned,
          const ApplyOptions& options, Plan plan)
      : nl_(nl), previous_(previous), next_(next), owned_(owned), options_(options), plan_(std::move(plan)) {}

  ApplyResult run() {
    auto replaced = replaced_devices();
    before_ = take_snapshot(nl_, plan_.touched);
    try {
      remove_old_gateways();
      release_dropped_members();
      for (const auto& name : plan_.removed) unconfigure(name);
      for (auto it = replaced.rbegin(); it != replaced.rend(); ++it) {
        auto link = nl_.link(*it);
        if (!link) continue;  // went with a device deleted before it
        LinkState saved = *link;
        step(
            "delete " + saved.kind + " " + *it + " (it becomes a " + std::string(type_name(next_.find(*it)->type)) +
                ")",
            [&] { nl_.delete_link(*it); }, [this, saved] { recreate(nl_, saved); });
      }
      for (const auto& name : plan_.order) configure(name);
    } catch (const std::exception& e) {
      roll_back(e.what());
    }
    return {steps_};
  }

 private:
  // --- bookkeeping ---

  void step(std::string what, const std::function<void()>& change, std::function<void()> undo) {
    current_ = what;
    if (options_.log) options_.log(what);
    change();
    undo_.emplace_back(what, std::move(undo));
    steps_.push_back(std::move(what));
  }

  [[noreturn]] void fail(std::string what, const std::string& cause) {
    current_ = std::move(what);
    if (options_.log) options_.log(current_);
    throw Error(cause, 500);
  }

  // Things deliberately left alone: logged, but not steps.
  void note(const std::string& text) {
    log::info(text);
    if (options_.log) options_.log(text);
  }

  [[noreturn]] void roll_back(const std::string& cause) {
    auto say = [this](const std::string& line) {
      if (options_.log) options_.log(line);
    };
    std::vector<std::string> failed_undos;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      say("undo: " + it->first);
      try {
        it->second();
      } catch (const std::exception& e) {
        failed_undos.push_back(it->first + ": " + e.what());
        say("undo failed: " + it->first + ": " + e.what());
      }
    }
    // The undos put back what the steps changed; the kernel changed more on its own (a deleted
    // bridge releases its ports, a removed address takes its routes along). Compare with the
    // snapshot and fix what still differs; a second round catches fixes that needed another first.
    std::vector<std::string> remaining;
    std::set<std::string> names;
    for (const auto& [name, state] : before_) names.insert(name);
    try {
      remaining = differences(before_, take_snapshot(nl_, names));
      std::vector<std::string> failed;
      for (int round = 0; round < 2 && !remaining.empty(); ++round) {
        failed = restore(nl_, before_, say);
        remaining = differences(before_, take_snapshot(nl_, names));
      }
      if (!remaining.empty()) remaining.insert(remaining.end(), failed.begin(), failed.end());
    } catch (const std::exception& e) {
      remaining.push_back(std::string("cannot read the kernel state: ") + e.what());
    }
    std::string message = "apply failed at '" + current_ + "': " + cause;
    if (remaining.empty()) {
      std::string repaired =
          failed_undos.empty() ? "" : " (undo failed, repaired from the snapshot: " + join(failed_undos, "; ") + ")";
      throw Error(message + "; previous state restored" + repaired, 500);
    }
    remaining.insert(remaining.end(), failed_undos.begin(), failed_undos.end());
    throw Error(message + "; restore incomplete: " + join(remaining, "; "), 500);
  }

  bool owned(const std::string& name) const { return owned_.count(name) > 0; }

  // --- checks before anything changes ---

  // Virtual devices of `next` whose name is taken by a device of another kind: replaced when
  // `previous` made that device, refused otherwise.
  std::vector<std::string> replaced_devices() {
    std::vector<std::string> out;
    for (const auto& name : plan_.order) {
      const Interface* iface = next_.find(name);
      std::string kind = iface ? kernel_kind(iface->type) : std::string();
      if (kind.empty()) continue;
      auto link = nl_.link(name);
      if (!link || link->kind == kind) continue;
      const Interface* old = previous_.find(name);
      if (old && !kernel_kind(old->type).empty() && kernel_kind(old->type) == link->kind) {
        out.push_back(name);
        continue;
      }
      throw Error("cannot create " + std::string(type_name(iface->type)) + " '" + name + "': a " +
                      (link->kind.empty() ? "network" : link->kind) + " device of that name exists",
                  400);
    }
    return out;
  }

  // --- taking back what `previous` configured ---

  void remove_old_gateways() {
    for (const auto& name : plan_.touched) {
      const Interface* old = previous_.find(name);
      if (!old) continue;
      std::vector<RouteState> routes;
      try {
        routes = gateway_routes(*old);
      } catch (const Error&) {
        continue;  // an old gateway that is not an address was never in the kernel
      }
      const Interface* now = next_.find(name);
      std::vector<RouteState> wanted;
      if (now && plan_.up.count(name)) wanted = gateway_routes(*now);
      for (const auto& route : routes) {
        bool kept =
            std::any_of(wanted.begin(), wanted.end(), [&](const RouteState& r) { return same_route(r, route); });
        if (kept || !has_route(route)) continue;
        step(
            "remove default route via " + route.gateway + " on " + name, [&] { nl_.del_route(route); },
            [this, route] { nl_.add_route(route); });
      }
    }
  }

  // Ports and slaves `previous` listed and `next` no longer does.
  void release_dropped_members() {
    for (const auto& name : plan_.order) {
      const Interface* now = next_.find(name);
      const Interface* old = previous_.find(name);
      if (!now || !old || now->type != old->type) continue;
      if (now->type != IfaceType::Bridge && now->type != IfaceType::Bond) continue;
      auto wanted = dependencies(*now);
      for (const auto& member : dependencies(*old)) {
        if (contains(wanted, member) || !owned(member)) continue;
        auto link = nl_.link(member);
        if (!link || link->master != name) continue;
        step(
            "remove " + member + " from " + kernel_kind(now->type) + " " + name, [&] { nl_.set_master(member, ""); },
            [this, member, name] { nl_.set_master(member, name); });
      }
    }
  }

  void unconfigure(const std::string& name) {
    current_ = "unconfigure " + name;
    const Interface& old = *previous_.find(name);
    auto link = nl_.link(name);
    if (!link) return;
    std::string kind = kernel_kind(old.type);
    if (!kind.empty()) {
      if (link->kind != kind) {
        note(name + " is a " + (link->kind.empty() ? "network" : link->kind) + " device now, not the " + kind +
             " the old configuration made; left alone");
        return;
      }
      LinkState saved = *link;
      step(
          "delete " + kind + " " + name, [&] { nl_.delete_link(name); }, [this, saved] { recreate(nl_, saved); });
      return;
    }
    // A device pvx does not make: take back only what the old stanza set.
    if (!link->master.empty()) {
      const Interface* master = previous_.find(link->master);
      if (master && contains(dependencies(*master), name)) {
        std::string from = link->master;
        step(
            "remove " + name + " from " + kernel_kind(master->type) + " " + from, [&] { nl_.set_master(name, ""); },
            [this, name, from] { nl_.set_master(name, from); });
      }
    }
    std::vector<std::string> addresses;
    try {
      addresses = static_addresses(old);
    } catch (const Error&) {
    }
    auto present = permanent_addresses(nl_, name);
    for (const auto& cidr : addresses) {
      if (!contains(present, cidr)) continue;
      step(
          "remove " + cidr + " from " + name, [&] { nl_.del_address(name, cidr); },
          [this, name, cidr] { nl_.add_address(name, cidr); });
    }
    if (plan_.previous_up.count(name) && nl_.link(name)->up) set_up(name, false);
  }

  // --- making `next` true ---

  void configure(const std::string& name) {
    current_ = "configure " + name;  // until a step names what failed more precisely
    const Interface* iface = next_.find(name);
    IfaceType type = iface ? iface->type : IfaceType::Unknown;
    if (type == IfaceType::Bridge && !nl_.link(name)) {
      step(
          "create bridge " + name, [&] { nl_.create_bridge(name); }, [this, name] { nl_.delete_link(name); });
    } else if (type == IfaceType::Bond && !nl_.link(name)) {
      auto options = wanted_bond(*iface);
      options.primary.clear();  // names a slave, which is not one yet
      step(
          "create bond " + name + " (" + options.mode + ")", [&] { nl_.create_bond(name, options); },
          [this, name] { nl_.delete_link(name); });
    } else if (type == IfaceType::Vlan) {
      ensure_vlan(*iface);
    }

    auto link = nl_.link(name);
    bool want_up = plan_.up.count(name) > 0;
    if (!link) {
      // A port without a stanza: the bridge or bond that needs it reports it missing.
      if (!iface) return;
      if (!want_up && !iface->mtu && static_addresses(*iface).empty()) {
        note(name + " does not exist; nothing to do for it");
        return;
      }
      fail("configure " + name, "device '" + name + "' does not exist");
    }

    if (type == IfaceType::Bridge) configure_bridge(*iface);
    if (type == IfaceType::Bond) configure_bond(*iface);
    if (iface && iface->mtu && nl_.link(name)->mtu != static_cast<unsigned>(*iface->mtu)) {
      unsigned old = nl_.link(name)->mtu;
      unsigned mtu = static_cast<unsigned>(*iface->mtu);
      step(
          "set mtu " + std::to_string(mtu) + " on " + name, [&] { nl_.set_mtu(name, mtu); },
          [this, name, old] { nl_.set_mtu(name, old); });
    }
    // Devices without a stanza are only brought up for the device that needs them, never down.
    if (iface && !want_up && nl_.link(name)->up) set_up(name, false);
    if (iface) configure_addresses(*iface);
    if (want_up && !nl_.link(name)->up) set_up(name, true);
    if (iface && want_up) configure_routes(*iface);
  }

  void set_up(const std::string& name, bool up) {
    step(
        "set " + name + (up ? " up" : " down"), [&] { nl_.set_up(name, up); },
        [this, name, up] { nl_.set_up(name, !up); });
  }

  void ensure_vlan(const Interface& iface) {
    const std::string& name = iface.name;
    std::string parent = iface.vlan_parent();
    int vid = *iface.effective_vlan_id();
    auto link = nl_.link(name);
    if (link && (link->vlan_parent != parent || link->vlan_id != vid)) {
      LinkState saved = *link;
      step(
          "delete vlan " + name + " (it was VLAN " + std::to_string(saved.vlan_id) + " on " + saved.vlan_parent + ")",
          [&] { nl_.delete_link(name); }, [this, saved] { recreate(nl_, saved); });
      link.reset();
    }
    if (!link) {
      step(
          "create vlan " + name + " (VLAN " + std::to_string(vid) + " on " + parent + ")",
          [&] { nl_.create_vlan(name, parent, vid); }, [this, name] { nl_.delete_link(name); });
    }
  }

  // Enslaves the owned members of a bridge or bond that are not yet.
  void add_members(const Interface& iface, const std::string& kind) {
    for (const auto& member : dependencies(iface)) {
      if (!owned(member)) {
        note(member + " is not managed here; not adding it to " + kind + " " + iface.name);
        continue;
      }
      std::string what = "add " + member + " to " + kind + " " + iface.name;
      auto link = nl_.link(member);
      if (!link) fail(what, "device '" + member + "' does not exist");
      if (link->master == iface.name) continue;
      std::string old_master = link->master;
      bool was_up = link->up;
      step(
          what, [&] { nl_.set_master(member, iface.name); },
          [this, member, old_master, was_up] {
            nl_.set_master(member, old_master);
            nl_.set_up(member, was_up);
          });
      // Bonding opens its slaves; one that is to stay down goes down again.
      if (kind == "bond" && next_.find(member) && !plan_.up.count(member) && nl_.link(member)->up) {
        set_up(member, false);
      }
    }
  }

  void configure_bridge(const Interface& iface) {
    const std::string& name = iface.name;
    auto want = wanted_stp(iface);
    auto stp = read_bridge_stp(nl_, name);
    if (!stp || !(*stp == want)) {
      step(
          "set STP " + std::string(want.on ? "on" : "off") + ", forward delay " + std::to_string(want.forward_delay) +
              " s on " + name,
          [&] { nl_.set_bridge_stp(name, want.on, want.forward_delay); },
          [this, name, stp] {
            if (stp) nl_.set_bridge_stp(name, stp->on, stp->forward_delay);
          });
    }
    if (nl_.link(name)->vlan_filtering != iface.bridge_vlan_aware) {
      bool on = iface.bridge_vlan_aware;
      step(
          "turn " + std::string(on ? "on" : "off") + " VLAN filtering on " + name,
          [&] { nl_.set_bridge_vlan_filtering(name, on); },
          [this, name, on] { nl_.set_bridge_vlan_filtering(name, !on); });
    }
    add_members(iface, "bridge");
    if (!iface.bridge_vlan_aware) return;
    auto vlans = wanted_vlans(iface);
    sync_port_vlans(name, true, vlans);
    for (const auto& port : dependencies(iface)) {
      if (owned(port) && nl_.link(port)->master == name) sync_port_vlans(port, false, vlans);
    }
  }

  void sync_port_vlans(const std::string& ifname, bool self, const std::vector<PortVlan>& wanted) {
    auto current = nl_.port_vlans(ifname);
    if (same_vlans(current, wanted)) return;
    step(
        "set VLANs of " + ifname + (self ? " (bridge)" : "") + ": " + vlans_text(wanted),
        [&] { sync_vlans(nl_, ifname, self, current, wanted); },
        [this, ifname, self, current] { sync_vlans(nl_, ifname, self, nl_.port_vlans(ifname), current); });
  }

  void configure_bond(const Interface& iface) {
    const std::string& name = iface.name;
    auto want = wanted_bond(iface);
    auto link = *nl_.link(name);
    std::string policy = want.xmit_hash_policy.empty() ? "layer2" : want.xmit_hash_policy;
    bool mode_differs = link.bond_mode != want.mode;
    std::vector<std::string> released;
    if (mode_differs) {
      // The kernel changes the mode only of a bond that is down and has no slaves.
      for (const auto& slave : nl_.links()) {
        if (slave.master != name) continue;
        std::string member = slave.name;
        step(
            "remove " + member + " from bond " + name + " (to change its mode)", [&] { nl_.set_master(member, ""); },
            [this, member, name] { nl_.set_master(member, name); });
        released.push_back(member);
      }
      if (nl_.link(name)->up) set_up(name, false);
    }
    if (mode_differs || link.bond_miimon != want.miimon || link.bond_xmit_hash_policy != policy) {
      auto old = bond_options_of(link);
      auto options = want;
      options.primary = mode_differs ? std::string() : link.bond_primary;  // set below, once the slaves are in
      std::string what = "set bond " + name + " mode " + options.mode + ", miimon " + std::to_string(options.miimon);
      if (!want.xmit_hash_policy.empty()) what += ", xmit-hash-policy " + want.xmit_hash_policy;
      step(
          what, [&] { nl_.set_bond_options(name, options); }, [this, name, old] { nl_.set_bond_options(name, old); });
    }
    add_members(iface, "bond");
    // Slaves the file does not list (or pvx may not touch) were only out for the mode change.
    for (const auto& member : released) {
      auto slave = nl_.link(member);
      if (!slave || slave->master == name) continue;
      step(
          "add " + member + " to bond " + name + " again", [&] { nl_.set_master(member, name); },
          [this, member] { nl_.set_master(member, ""); });
    }
    auto now = *nl_.link(name);
    if (bond_uses_primary(want.mode) && now.bond_primary != want.primary) {
      auto old = bond_options_of(now);
      step(
          want.primary.empty() ? "clear primary of bond " + name
                               : "set primary of bond " + name + " to " + want.primary,
          [&] { nl_.set_bond_options(name, want); }, [this, name, old] { nl_.set_bond_options(name, old); });
    }
  }

  void configure_addresses(const Interface& iface) {
    const std::string& name = iface.name;
    for (const auto* fam : {&iface.inet, &iface.inet6}) {
      if (*fam && (*fam)->method == "dhcp") {
        note(name + ": DHCP (" + family_text(fam == &iface.inet ? AF_INET : AF_INET6) +
             ") is not run by pvx; addresses left as they are");
      }
    }
    auto wanted = static_addresses(iface);
    std::vector<std::string> configured_before;
    if (const Interface* old = previous_.find(name)) {
      try {
        configured_before = static_addresses(*old);
      } catch (const Error&) {
      }
    }
    // Old ones first: with the same subnet the new address would otherwise be a secondary one,
    // which the kernel drops together with the old primary.
    auto present = permanent_addresses(nl_, name);
    for (const auto& cidr : configured_before) {
      if (contains(wanted, cidr) || !contains(present, cidr)) continue;
      step(
          "remove " + cidr + " from " + name, [&] { nl_.del_address(name, cidr); },
          [this, name, cidr] { nl_.add_address(name, cidr); });
    }
    present = permanent_addresses(nl_, name);
    for (const auto& cidr : wanted) {
      if (contains(present, cidr)) continue;
      step(
          "add " + cidr + " to " + name, [&] { nl_.add_address(name, cidr); },
          [this, name, cidr] { nl_.del_address(name, cidr); });
    }
  }

  bool has_route(const RouteState& route) {
    auto routes = own_routes(nl_.routes(route.family), route.ifname);
    return std::any_of(routes.begin(), routes.end(), [&](const RouteState& r) { return same_route(r, route); });
  }

  void configure_routes(const Interface& iface) {
    for (const auto& route : gateway_routes(iface)) {
      if (has_route(route)) continue;
      std::string what = "add default route via " + route.gateway + " on " + iface.name;
      // Adding replaces a default route of the same family; only one on this device may go.
      std::optional<RouteState> replaced;
      for (const auto& r : nl_.routes(route.family)) {
        if (r.dst != "default" || r.table != route.table) continue;
        if (r.ifname != iface.name) {
          fail(what, "a default route via " + (r.gateway.empty() ? std::string("no gateway") : r.gateway) + " on " +
                         r.ifname + " exists already");
        }
        replaced = r;
      }
      step(
          what, [&] { nl_.add_route(route); },
          [this, route, replaced] {
            nl_.del_route(route);
            if (replaced) nl_.add_route(*replaced);
          });
    }
  }

  Netlink& nl_;
  const InterfacesFile& previous_;
  const InterfacesFile& next_;
  const std::set<std::string>& owned_;
  const ApplyOptions& options_;
  Plan plan_;
  Snapshot before_;
  std::vector<std::pair<std::string, std::function<void()>>> undo_;
  std::vector<std::string> steps_;
  std::string current_;
};

}  // namespace

ApplyResult apply_interfaces(Netlink& nl, const InterfacesFile& previous, const InterfacesFile& next,
                             const std::set<std::string>& owned, const ApplyOptions& options) {
  auto plan = make_plan(previous, next, owned, options.autostart_only);
  return Applier(nl, previous, next, owned, options, std::move(plan)).run();
}

}  // namespace pvx::network
