// /etc/network/interfaces for Debian, Devuan, old Ubuntu and Alpine (ifupdown, ifupdown-ng and
// busybox ifup read it). Stanzas of interfaces we manage are rewritten in place, everything else
// in the file (other interfaces, comments, the admin's extra options) is kept.
#include <sys/socket.h>

#include <map>
#include <set>

#include "base/error.h"
#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

// What one managed interface gets.
struct IfaceConfig {
  std::string v4;  // "dhcp", "manual", the address, or "" for no inet stanza
  std::string v4_cidr, v4_netmask, gw;
  bool gw_needs_route = false;  // the gateway is off the subnet: add a link route first
  std::string v6;  // "auto", "dhcp", "manual", the address, or ""
  std::string v6_cidr, v6_prefix, gw6;
  bool gw6_needs_route = false;
};

// How the file's consumer wants addresses written.
struct Style {
  bool cidr = false;      // "address 10.0.0.2/24" (ifupdown 0.8+, ifupdown-ng) or address + netmask
  bool no_v6_auto = false;  // busybox ifup has no inet6 auto/dhcp method: write manual instead
};

// busybox's ifup (Alpine before 3.13, busybox based templates) needs "netmask" and dies on an
// unknown method. It is in use when ifup is busybox itself, or when there is no ifup at all but
// a busybox to link its applets to at boot.
bool ifup_is_busybox(const RootFs& fs) {
  std::optional<struct stat> busybox;
  for (auto p : {"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"})
    if (!busybox) busybox = fs.stat(p);
  if (!busybox || !S_ISREG(busybox->st_mode)) return false;
  for (auto p : {"/sbin/ifup", "/usr/sbin/ifup", "/bin/ifup", "/usr/bin/ifup"}) {
    if (auto st = fs.stat(p)) return st->st_dev == busybox->st_dev && st->st_ino == busybox->st_ino;
  }
  return true;
}

Style style_for(const Context& ctx) {
  Style s;
  const bool busybox = ifup_is_busybox(ctx.fs);
  s.cidr = !busybox && ((ctx.ostype == "debian" && ctx.version.known() && ctx.version.at_least(10)) ||
                        (ctx.ostype == "alpine" && ctx.version.known() && ctx.version.at_least(3, 13)));
  // Alpine's udhcpc6 and SLAAC handling are not ifupdown's: PVE writes manual there too.
  s.no_v6_auto = busybox || ctx.ostype == "alpine";
  return s;
}

std::map<std::string, IfaceConfig> managed_interfaces(const Context& ctx, const Style& style) {
  std::map<std::string, IfaceConfig> out;
  for (const SetupNet* net : ctx.nets()) {
    IfaceConfig c;
    if (!net->ip.empty()) {
      if (net->ip == "dhcp" || net->ip == "manual") {
        c.v4 = net->ip;
      } else {
        auto cidr = parse_cidr(net->ip);
        if (!cidr || cidr->family != AF_INET) throw Error("unable to parse IPv4 address '" + net->ip + "' of " + net->name, 500);
        c.v4 = cidr->address;
        c.v4_cidr = net->ip;
        c.v4_netmask = ipv4_netmask(cidr->prefix);
      }
    }
    if (!net->gw.empty()) {
      c.gw = net->gw;
      c.gw_needs_route = !c.v4_cidr.empty() && !ip_in_cidr(net->gw, c.v4_cidr);
    }
    if (!net->ip6.empty()) {
      if (net->ip6 == "auto" || net->ip6 == "dhcp" || net->ip6 == "manual") {
        c.v6 = style.no_v6_auto && net->ip6 != "manual" ? "manual" : net->ip6;
      } else {
        auto cidr = parse_cidr(net->ip6);
        if (!cidr || cidr->family != AF_INET6) throw Error("unable to parse IPv6 address '" + net->ip6 + "' of " + net->name, 500);
        c.v6 = cidr->address;
        c.v6_cidr = net->ip6;
        c.v6_prefix = std::to_string(cidr->prefix);
      }
    }
    if (!net->gw6.empty()) {
      c.gw6 = net->gw6;
      c.gw6_needs_route = !c.v6_cidr.empty() && !ip_in_cidr(net->gw6, c.v6_cidr) && !ip_in_cidr(net->gw6, "fe80::/10");
    }
    if (!net->ip.empty() || !net->gw.empty() || !net->ip6.empty() || !net->gw6.empty()) out[net->name] = c;
  }
  return out;
}

// Rebuilds the file: copies foreign lines, re-emits the stanzas of managed interfaces where they
// were and appends the ones that were missing.
class InterfacesWriter {
 public:
  InterfacesWriter(std::map<std::string, IfaceConfig> nets, Style style) : nets_(std::move(nets)), style_(style) {}

  std::string run(const std::optional<std::string>& old) {
    if (old) {
      for (const auto& line : lines_of(*old)) take(line);
      flush();
    }
    const bool blank_at_end = out_.size() >= 2 && out_.compare(out_.size() - 2, 2, "\n\n") == 0;
    bool separator = !out_.empty() && !blank_at_end;
    for (const auto& [name, net] : nets_) {
      for (bool v6 : {false, true}) {
        if ((v6 ? done_v6_ : done_v4_).count(name) || (v6 ? net.v6 : net.v4).empty()) continue;
        if (separator) out_ += "\n";
        separator = false;
        section_ = Section{name, v6, {}};
        flush();
      }
    }
    // Templates before Debian 8 only bring lo up when told to.
    if (!done_auto_.count("lo")) out_ = "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n" + out_;
    return out_;
  }

 private:
  struct Section {
    std::string iface;
    bool v6 = false;
    std::vector<std::string> options;  // the admin's other options, kept
  };

  static bool starts_with_word(std::string_view line, std::string_view word) {
    const std::string_view t = trim(line);
    return t.rfind(word, 0) == 0 && (t.size() == word.size() || t[word.size()] == ' ' || t[word.size()] == '\t');
  }

  void take(const std::string& line) {
    const std::string_view t = trim(line);
    if (line.rfind("# --- BEGIN PVE ---", 0) == 0 || line.rfind("# --- END PVE ---", 0) == 0) {
      if (section_) section_->options.push_back(line);  // so our old route lines can be found
      return;
    }
    if (!line.empty() && line[0] == '#') {
      out_ += line + "\n";
      return;
    }
    if (t.empty()) {
      if (section_) {
        flush();
      } else {
        out_ += line + "\n";
      }
      return;
    }
    const auto words = split_any(t, " \t");
    if (words[0] == "iface" && words.size() == 4 && (words[2] == "inet" || words[2] == "inet6")) {
      flush();
      if (!nets_.count(words[1])) {
        out_ += line + "\n";
      } else {
        section_ = Section{words[1], words[2] == "inet6", {}};
      }
      return;
    }
    if (words[0] == "auto") {
      for (std::size_t i = 1; i < words.size(); ++i) done_auto_.insert(words[i]);
      flush();
      out_ += line + "\n";
      return;
    }
    if (words[0] == "mapping" || words[0].rfind("allow-", 0) == 0 || words[0] == "source" || words[0] == "source-directory") {
      flush();
      out_ += line + "\n";
      return;
    }
    if (section_ && words.size() >= 2) {
      // Addresses are ours; anything else (mtu, up commands...) stays with the stanza.
      if (words[0] != "address" && words[0] != "netmask" && words[0] != "gateway" && words[0] != "broadcast") {
        section_->options.emplace_back(t);
      }
      return;
    }
    out_ += line + "\n";
  }

  // Drops the route lines we added last time (between our markers).
  static void drop_our_routes(std::vector<std::string>& options) {
    std::vector<std::string> kept;
    bool ours = false;
    for (auto& o : options) {
      if (o == "# --- BEGIN PVE ---") {
        ours = true;
      } else if (o == "# --- END PVE ---") {
        ours = false;
      } else if (!ours) {
        kept.push_back(std::move(o));
      }
    }
    options = std::move(kept);
  }

  static std::string route_lines(const std::string& iface, const std::string& gw) {
    return "# --- BEGIN PVE ---\n"
           "\tpost-up ip route add " + gw + " dev " + iface + "\n"
           "\tpost-up ip route add default via " + gw + " dev " + iface + "\n"
           "\tpre-down ip route del default via " + gw + " dev " + iface + "\n"
           "\tpre-down ip route del " + gw + " dev " + iface + "\n"
           "# --- END PVE ---\n";
  }

  void flush() {
    if (!section_) return;
    Section s = std::move(*section_);
    section_.reset();
    const IfaceConfig& net = nets_.at(s.iface);
    if (done_auto_.insert(s.iface).second) out_ += "auto " + s.iface + "\n";
    (s.v6 ? done_v6_ : done_v4_).insert(s.iface);

    const std::string& method = s.v6 ? net.v6 : net.v4;
    const std::string family = s.v6 ? "inet6" : "inet";
    if (method.empty()) return;  // no address of this family any more: the stanza goes
    if (method == "dhcp" || method == "manual" || method == "auto") {
      out_ += "iface " + s.iface + " " + family + " " + method + "\n\n";
      return;
    }
    out_ += "iface " + s.iface + " " + family + " static\n";
    if (style_.cidr) {
      out_ += "\taddress " + (s.v6 ? net.v6_cidr : net.v4_cidr) + "\n";
    } else {
      out_ += "\taddress " + method + "\n";
      out_ += "\tnetmask " + (s.v6 ? net.v6_prefix : net.v4_netmask) + "\n";
    }
    drop_our_routes(s.options);
    const std::string& gw = s.v6 ? net.gw6 : net.gw;
    if (!gw.empty()) out_ += (s.v6 ? net.gw6_needs_route : net.gw_needs_route) ? route_lines(s.iface, gw) : "\tgateway " + gw + "\n";
    for (const auto& o : s.options) out_ += "\t" + o + "\n";
    out_ += "\n";
  }

  std::map<std::string, IfaceConfig> nets_;
  Style style_;
  std::string out_;
  std::optional<Section> section_;
  std::set<std::string> done_auto_, done_v4_, done_v6_;
};

}  // namespace

void setup_ifupdown(Context& ctx) {
  const Style style = style_for(ctx);
  auto nets = managed_interfaces(ctx, style);
  if (nets.empty()) return;
  constexpr std::string_view kPath = "/etc/network/interfaces";
  const auto old = ctx.fs.read(kPath);
  const std::string text = InterfacesWriter(std::move(nets), style).run(old);
  ctx.fs.make_dirs("/etc/network");
  ctx.fs.write(kPath, text);
}

}  // namespace pvx::guest::lxc::setup
