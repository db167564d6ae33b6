#include "network/interfaces.h"

#include <algorithm>
#include <array>
#include <set>
#include <sstream>

#include "base/strings.h"

namespace pvx::network {
namespace {

constexpr std::array<std::pair<IfaceType, std::string_view>, 12> kTypeNames{{
    {IfaceType::Loopback, "loopback"},
    {IfaceType::Eth, "eth"},
    {IfaceType::Bridge, "bridge"},
    {IfaceType::Bond, "bond"},
    {IfaceType::Vlan, "vlan"},
    {IfaceType::Vxlan, "vxlan"},
    {IfaceType::OVSBridge, "OVSBridge"},
    {IfaceType::OVSBond, "OVSBond"},
    {IfaceType::OVSPort, "OVSPort"},
    {IfaceType::OVSIntPort, "OVSIntPort"},
    {IfaceType::Alias, "alias"},
    {IfaceType::Unknown, "unknown"},
}};

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string join_words(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& w : list) out += (out.empty() ? "" : " ") + w;
  return out;
}

// 255.255.255.0 -> 24; nullopt for a non-contiguous or malformed mask.
std::optional<int> mask_prefix(const std::string& mask) {
  if (auto n = to_int(mask); n && *n >= 0 && *n <= 128) return n;  // "24" is accepted as well
  unsigned parts[4];
  if (std::sscanf(mask.c_str(), "%u.%u.%u.%u", &parts[0], &parts[1], &parts[2], &parts[3]) != 4) return std::nullopt;
  std::uint32_t m = 0;
  for (unsigned p : parts) {
    if (p > 255) return std::nullopt;
    m = (m << 8) | p;
  }
  int prefix = 0;
  while (prefix < 32 && (m & (0x80000000u >> prefix))) ++prefix;
  if (prefix < 32 && (m << prefix) != 0) return std::nullopt;
  return prefix;
}

bool yes(const std::string& v) { return v == "yes" || v == "on" || v == "1"; }

// The sort class of a stanza: loopback, NICs, bonds, bridges, then everything else.
int type_class(IfaceType t) {
  switch (t) {
    case IfaceType::Loopback: return 0;
    case IfaceType::Eth: return 1;
    case IfaceType::Bond: case IfaceType::OVSBond: return 2;
    case IfaceType::Bridge: case IfaceType::OVSBridge: return 3;
    default: return 4;
  }
}

constexpr const char* kPendingAddress = "\x01" "address";
constexpr const char* kPendingNetmask = "\x01" "netmask";

bool is_ovs(IfaceType t) {
  return t == IfaceType::OVSBridge || t == IfaceType::OVSBond || t == IfaceType::OVSPort || t == IfaceType::OVSIntPort;
}

// Keys parsed into typed fields (both spellings ifupdown2 accepts). The options decide the type
// before the name does (a bridge may be called `vlan10`), as PVE's reader does.
bool take_known(Interface& i, Family& fam, const std::string& key, const std::string& value, const std::string& family) {
  auto k = key;
  std::replace(k.begin(), k.end(), '_', '-');
  // Old style `address` + `netmask` lines (either order) fold into one CIDR; markers in the
  // option list remember the half seen first. A second address stays a verbatim option.
  auto marker = [&](const char* name) {
    return std::find_if(fam.options.begin(), fam.options.end(), [&](auto& o) { return o.first == name; });
  };
  if (k == "address") {
    if (!fam.cidr.empty()) return false;
    if (value.find('/') != std::string::npos) {
      fam.cidr = value;
    } else if (auto mask = marker(kPendingNetmask); mask != fam.options.end()) {
      fam.cidr = value + "/" + std::to_string(*mask_prefix(mask->second));
      fam.options.erase(mask);
    } else {
      fam.cidr = value + (family == "inet6" ? "/128" : "/32");  // a host address, as ifupdown2 takes it
      fam.options.emplace_back(kPendingAddress, value);
    }
    return true;
  }
  if (k == "netmask") {
    auto prefix = mask_prefix(value);
    if (!prefix) return false;
    if (auto pending = marker(kPendingAddress); pending != fam.options.end()) {
      fam.cidr = pending->second + "/" + std::to_string(*prefix);
      fam.options.erase(pending);
      return true;
    }
    if (!fam.cidr.empty()) return false;
    fam.options.emplace_back(kPendingNetmask, value);
    return true;
  }
  if (k == "gateway") { fam.gateway = value; return true; }
  if (k == "bridge-ports") {
    i.bridge_ports = value == "none" ? std::vector<std::string>{} : words(value);
    if (!is_ovs(i.type)) i.type = IfaceType::Bridge;
    return true;
  }
  if (k == "bridge-stp") { i.bridge_stp = value; return true; }
  if (k == "bridge-fd") { i.bridge_fd = value; return true; }
  if (k == "bridge-vlan-aware") { i.bridge_vlan_aware = yes(value); return true; }
  if (k == "bridge-vids") { i.bridge_vids = value; return true; }
  if (k == "bond-slaves" || k == "slaves") {
    i.slaves = value == "none" ? std::vector<std::string>{} : words(value);
    if (i.type != IfaceType::Bridge && !is_ovs(i.type)) i.type = IfaceType::Bond;
    return true;
  }
  if (k == "bond-mode") { i.bond_mode = value; return true; }
  if (k == "bond-miimon") { i.bond_miimon = value; return true; }
  if (k == "bond-xmit-hash-policy") { i.bond_xmit_hash_policy = value; return true; }
  if (k == "bond-primary") { i.bond_primary = value; return true; }
  if (k == "vlan-raw-device") {
    i.vlan_raw_device = value;
    if (i.type != IfaceType::Bridge && i.type != IfaceType::Bond && !is_ovs(i.type)) i.type = IfaceType::Vlan;
    return true;
  }
  if (k == "vlan-id") {
    if (auto v = to_int(value)) { i.vlan_id = *v; return true; }
    return false;
  }
  if (k == "mtu") {
    if (auto v = to_int(value)) { i.mtu = *v; return true; }
    return false;
  }
  if (k == "ovs-type") {
    if (auto t = parse_type(value)) i.type = *t;
    return false;  // kept verbatim: pvx does not drive Open vSwitch
  }
  if (k == "vxlan-id") {
    i.type = IfaceType::Vxlan;
    return false;
  }
  return false;
}

void finish_family(Family& fam) {
  // An `address` without `netmask`: keep it as a host address and drop the marker.
  std::erase_if(fam.options, [](auto& o) { return o.first == kPendingAddress; });
  // A netmask without an address stays what it was: a line of the file.
  for (auto& o : fam.options) {
    if (o.first == kPendingNetmask) o.first = "netmask";
  }
}

void print_family(std::ostringstream& out, const Interface& i, const std::string& family, const Family& fam,
                  bool with_type_options) {
  out << "iface " << i.name << ' ' << family << ' ' << fam.method << '\n';
  if (!fam.cidr.empty()) out << "\taddress " << fam.cidr << '\n';
  if (!fam.gateway.empty()) out << "\tgateway " << fam.gateway << '\n';
  if (with_type_options) {
    switch (i.type) {
      case IfaceType::Bridge:
        out << "\tbridge-ports " << (i.bridge_ports.empty() ? "none" : join_words(i.bridge_ports)) << '\n';
        out << "\tbridge-stp " << (i.bridge_stp.empty() ? "off" : i.bridge_stp) << '\n';
        out << "\tbridge-fd " << (i.bridge_fd.empty() ? "0" : i.bridge_fd) << '\n';
        if (i.bridge_vlan_aware) {
          out << "\tbridge-vlan-aware yes\n";
          out << "\tbridge-vids " << (i.bridge_vids.empty() ? "2-4094" : i.bridge_vids) << '\n';
        }
        break;
      case IfaceType::Bond:
        out << "\tbond-slaves " << (i.slaves.empty() ? "none" : join_words(i.slaves)) << '\n';
        out << "\tbond-miimon " << (i.bond_miimon.empty() ? "100" : i.bond_miimon) << '\n';
        out << "\tbond-mode " << (i.bond_mode.empty() ? "balance-rr" : i.bond_mode) << '\n';
        if (!i.bond_xmit_hash_policy.empty() && (i.bond_mode == "balance-xor" || i.bond_mode == "802.3ad")) {
          out << "\tbond-xmit-hash-policy " << i.bond_xmit_hash_policy << '\n';
        }
        if (!i.bond_primary.empty() && i.bond_mode == "active-backup") out << "\tbond-primary " << i.bond_primary << '\n';
        break;
      case IfaceType::Vlan:
        if (!i.vlan_raw_device.empty()) out << "\tvlan-raw-device " << i.vlan_raw_device << '\n';
        if (i.vlan_id) out << "\tvlan-id " << *i.vlan_id << '\n';
        break;
      default:
        break;
    }
    if (i.mtu) out << "\tmtu " << *i.mtu << '\n';
  }
  for (const auto& [k, v] : fam.options) out << '\t' << k << (v.empty() ? "" : " ") << v << '\n';
  for (const auto& c : fam.comments) out << '#' << c << '\n';
}

}  // namespace

std::string_view type_name(IfaceType t) {
  for (const auto& [type, name] : kTypeNames) {
    if (type == t) return name;
  }
  return "unknown";
}

std::optional<IfaceType> parse_type(std::string_view name) {
  for (const auto& [type, n] : kTypeNames) {
    if (n == name) return type;
  }
  return std::nullopt;
}

IfaceType type_from_name(std::string_view name) {
  if (name == "lo") return IfaceType::Loopback;
  if (name.find('.') != std::string_view::npos) return IfaceType::Vlan;
  if (name.find(':') != std::string_view::npos) return IfaceType::Alias;
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p && name.size() > p.size(); };
  if (starts("vmbr")) return IfaceType::Bridge;
  if (starts("bond")) return IfaceType::Bond;
  if (starts("vlan")) return IfaceType::Vlan;
  if (starts("eth") || starts("en") || starts("wl") || starts("ib")) return IfaceType::Eth;
  return IfaceType::Unknown;
}

std::optional<std::pair<int, int>> parse_vlan_range(std::string_view piece) {
  auto id = [](std::string_view s) -> std::optional<int> {
    if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    auto v = to_int(s);
    if (!v || *v < 1 || *v > 4094) return std::nullopt;
    return v;
  };
  auto dash = piece.find('-');
  auto first = id(piece.substr(0, dash));
  auto last = dash == std::string_view::npos ? first : id(piece.substr(dash + 1));
  if (!first || !last || *first > *last) return std::nullopt;
  return std::pair{*first, *last};
}

std::string Interface::vlan_parent() const {
  if (!vlan_raw_device.empty()) return vlan_raw_device;
  auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

std::optional<int> Interface::effective_vlan_id() const {
  if (vlan_id) return vlan_id;
  auto dot = name.rfind('.');
  if (dot != std::string::npos) return to_int(std::string_view(name).substr(dot + 1));
  // vlanN: N is the id (ifupdown2 still needs vlan-raw-device for the parent).
  if (name.rfind("vlan", 0) == 0) return to_int(std::string_view(name).substr(4));
  return std::nullopt;
}

Interface* InterfacesFile::find(std::string_view name) {
  auto it = ifaces.find(std::string(name));
  return it == ifaces.end() ? nullptr : &it->second;
}

const Interface* InterfacesFile::find(std::string_view name) const {
  auto it = ifaces.find(std::string(name));
  return it == ifaces.end() ? nullptr : &it->second;
}

int InterfacesFile::next_priority() const {
  int p = 0;
  for (const auto& [name, i] : ifaces) p = std::max(p, i.priority);
  for (const auto& [prio, line] : directives) p = std::max(p, prio);
  return p + 1;
}

InterfacesFile parse_interfaces(std::string_view text) {
  InterfacesFile file;
  std::set<std::string> autostart;
  Interface* current = nullptr;
  Family* family = nullptr;
  std::string family_name;
  int priority = 0;
  bool header = true;  // the comment block at the very top is the writer's header, not content
  bool after_blank = false;  // a `#` line after a blank line belongs to no stanza

  std::istringstream in{std::string(text)};
  for (std::string raw; std::getline(in, raw);) {
    std::string line = trim(raw);
    if (line.empty()) {
      after_blank = true;
      continue;
    }
    if (line[0] == '#') {
      if (family && !after_blank) {
        family->comments.push_back(line.substr(1));
      } else if (!header) {
        file.directives.emplace_back(priority, line);
      }
      continue;
    }
    header = false;
    after_blank = false;
    auto w = words(line);
    const std::string& keyword = w[0];
    if (keyword == "auto" || keyword == "allow-auto" || keyword == "allow-hotplug" || keyword == "allow-ovs") {
      if (family) finish_family(*family);
      family = nullptr;
      for (std::size_t k = 1; k < w.size(); ++k) autostart.insert(w[k]);
      continue;
    }
    if (keyword == "iface" && w.size() >= 2) {  // ifupdown2 allows `iface <name>` without family
      if (family) finish_family(*family);
      auto& iface = file.ifaces[w[1]];
      if (iface.name.empty()) {
        iface.name = w[1];
        iface.priority = ++priority;
        iface.type = type_from_name(w[1]);
      }
      current = &iface;
      family_name = w.size() > 2 ? w[2] : "inet";
      auto& slot = family_name == "inet6" ? iface.inet6 : iface.inet;
      // A second stanza of the same family adds to the first (ifupdown2 merges them).
      if (!slot) {
        slot.emplace();
        slot->method = w.size() > 3 ? w[3] : "manual";
      } else if (w.size() > 3 && slot->method == "manual") {
        slot->method = w[3];
      }
      family = &*slot;
      continue;
    }
    static const std::set<std::string> kDirectives = {"source", "source-directory", "source-dir", "mapping"};
    if (family && !kDirectives.count(keyword)) {
      auto sp = line.find_first_of(" \t");
      std::string key = line.substr(0, sp);
      std::string value = sp == std::string::npos ? std::string() : trim(line.substr(sp));
      if (!take_known(*current, *family, key, value, family_name)) family->options.emplace_back(key, value);
      continue;
    }
    // Another directive (`source`, `source-directory`, `mapping`, ...): a stanza ends here.
    if (family) finish_family(*family);
    family = nullptr;
    current = nullptr;
    file.directives.emplace_back(priority, line);
  }
  if (family) finish_family(*family);

  for (auto& [name, iface] : file.ifaces) {
    iface.autostart = autostart.count(name) > 0;
    if (name == "lo") iface.type = IfaceType::Loopback;
  }
  return file;
}

std::string print_interfaces(const InterfacesFile& file) {
  std::ostringstream out;
  out << "# Network interfaces, ifupdown2 syntax. Written by pvx: edit through the API, the web UI\n"
         "# or pvesh; local changes to stanzas pvx manages are rewritten. Lines pvx does not know\n"
         "# (source, source-directory, unknown options) are kept.\n";

  auto root_class = [&](const Interface& i) {
    auto root = i.name.substr(0, i.name.find('.'));
    if (root != i.name) {
      const auto* parent = file.find(root);
      return type_class(parent ? parent->type : type_from_name(root));
    }
    return type_class(i.type);
  };
  std::vector<const Interface*> order;
  for (const auto& [name, i] : file.ifaces) order.push_back(&i);
  std::stable_sort(order.begin(), order.end(), [&](const Interface* a, const Interface* b) {
    return std::tuple(root_class(*a), a->priority, a->name) < std::tuple(root_class(*b), b->priority, b->name);
  });

  std::set<std::string> slaves;
  for (const auto* i : order) {
    if (i->type == IfaceType::Bond) slaves.insert(i->slaves.begin(), i->slaves.end());
  }
  int first_priority = order.empty() ? 0 : order.front()->priority;
  for (const auto& [prio, line] : file.directives) {
    if (prio < first_priority) out << '\n' << line << '\n';
  }
  for (const auto* i : order) {
    out << '\n';
    if (i->autostart || slaves.count(i->name)) out << "auto " << i->name << '\n';
    Family manual;
    const Family& inet = i->inet ? *i->inet : manual;
    bool print_inet = i->inet.has_value() || !i->inet6.has_value();
    if (print_inet) print_family(out, *i, i->type == IfaceType::Loopback ? "inet" : "inet", inet, true);
    if (i->inet6) {
      if (print_inet) out << '\n';
      print_family(out, *i, "inet6", *i->inet6, !print_inet);
    }
  }
  bool any = false;
  for (const auto& [prio, line] : file.directives) {
    if (prio >= first_priority) {
      out << (any ? "" : "\n") << line << '\n';
      any = true;
    }
  }
  return out.str();
}

}  // namespace pvx::network
