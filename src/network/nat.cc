#include "network/nat.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>

#include "base/error.h"
#include "base/log.h"
#include "base/strings.h"

namespace pvx::network {
namespace {

unsigned mask_of(int prefix) { return prefix <= 0 ? 0u : ~0u << (32 - prefix); }

// Plain decimal digits, no sign, no leading zero (010 would be octal to inet_aton).
std::optional<int> parse_small(std::string_view s, int max) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value > max) return std::nullopt;
  return value;
}

// Pvx's own ranges, in order of preference: unusual enough to rarely collide with a LAN.
std::vector<Ipv4Net> candidates() {
  std::vector<Ipv4Net> out;
  for (unsigned i = 0; i < 256; ++i) out.push_back({(10u << 24) | (187u << 16) | (i << 8), 24});
  for (unsigned i = 0; i < 256; ++i) out.push_back({(172u << 24) | (31u << 16) | (i << 8), 24});
  for (unsigned i = 187; i < 256; ++i) out.push_back({(192u << 24) | (168u << 16) | (i << 8), 24});
  return out;
}

}  // namespace

std::string ipv4_text(unsigned a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." + std::to_string((a >> 8) & 0xff) +
         "." + std::to_string(a & 0xff);
}

void check_bridge_name(const std::string& name, const std::string& use) {
  bool ok = !name.empty() && name.size() < 16 && name != "." && name != "..";
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  if (!ok) throw Error("invalid bridge name '" + name + "' for " + use, 400);
}

unsigned Ipv4Net::mask() const { return mask_of(prefix); }
Ipv4Net Ipv4Net::network() const { return {address & mask(), prefix}; }
std::string Ipv4Net::text() const { return ipv4_text(address) + "/" + std::to_string(prefix); }

bool Ipv4Net::overlaps(const Ipv4Net& other) const {
  unsigned mask = mask_of(std::min(prefix, other.prefix));
  return (address & mask) == (other.address & mask);
}

std::optional<Ipv4Net> parse_ipv4_cidr(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto prefix = parse_small(std::string_view(text).substr(slash + 1), 32);
  if (!prefix) return std::nullopt;
  std::string_view addr = std::string_view(text).substr(0, slash);
  unsigned address = 0;
  for (int i = 0; i < 4; ++i) {
    auto dot = addr.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) return std::nullopt;
    auto octet = parse_small(addr.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    address = (address << 8) | static_cast<unsigned>(*octet);
    addr = dot == std::string_view::npos ? std::string_view() : addr.substr(dot + 1);
  }
  return Ipv4Net{address, *prefix};
}

std::optional<Ipv4Net> choose_nat_subnet(const std::vector<Ipv4Net>& in_use) {
  for (const auto& candidate : candidates()) {
    bool taken = false;
    for (const auto& used : in_use) {
      // A default route covers everything; it says nothing about which subnets are in use.
      if (used.prefix > 0 && candidate.overlaps(used)) {
        taken = true;
        break;
      }
    }
    if (!taken) return candidate;
  }
  return std::nullopt;
}

std::string nat_ruleset(const std::vector<NatBridge>& bridges) {
  // Creating the table first makes the delete succeed on a host that never had it, so the
  // whole script is one idempotent transaction.
  std::string s = "table ip pvx_nat {}\ndelete table ip pvx_nat\n";
  if (bridges.empty()) return s;
  for (const auto& b : bridges) check_bridge_name(b.bridge, "NAT");
  s += "table ip pvx_nat {\n";
  s += "\tchain postrouting {\n";
  s += "\t\ttype nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& b : bridges) {
    const std::string net = b.subnet.network().text();
    s += "\t\tip saddr " + net + " ip daddr != " + net + " oifname != \"" + b.bridge + "\" masquerade\n";
  }
  s += "\t}\n";
  // An accept here cannot overrule a drop in another table, and with policy accept it changes
  // nothing by itself. What this chain adds is NAT's usual shape even on hosts that forward
  // everything: guests reach out, but nothing from other interfaces opens connections into a
  // NAT bridge (it could only with a route to the private subnet through this host).
  s += "\tchain forward {\n";
  s += "\t\ttype filter hook forward priority filter; policy accept;\n";
  for (const auto& b : bridges) s += "\t\tiifname \"" + b.bridge + "\" accept\n";
  for (const auto& b : bridges) {
    s += "\t\toifname \"" + b.bridge + "\" ct state established,related accept\n";
    s += "\t\toifname \"" + b.bridge + "\" reject\n";
  }
  s += "\t}\n";
  s += "}\n";
  return s;
}

void apply_nat(const std::vector<NatBridge>& bridges) {
  const std::string script = nat_ruleset(bridges);
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) throw Error("nftables: cannot create a context");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (nft_run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx.get());
    std::string message = err ? std::string(trim(err)) : "";
    // nft repeats the failing line with markers below the message; the first line says it.
    if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
    throw Error("cannot apply NAT rules (table ip pvx_nat): " + (message.empty() ? "unknown error" : message));
  }
  if (bridges.empty()) return;
  std::ifstream in("/proc/sys/net/ipv4/ip_forward");
  std::string current;
  in >> current;
  if (current == "1") return;
  std::ofstream out("/proc/sys/net/ipv4/ip_forward");
  out << "1\n";
  out.flush();
  if (!out) throw Error(std::string("cannot enable IPv4 forwarding: ") + std::strerror(errno));
  log::info("enabled IPv4 forwarding (net.ipv4.ip_forward=1) for NAT bridges");
}

}  // namespace pvx::network
