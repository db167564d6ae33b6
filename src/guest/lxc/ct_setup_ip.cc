// Address arithmetic for the network writers: CIDR parsing, "is the gateway on the link".
#include <arpa/inet.h>

#include <cstring>

#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

struct Raw {
  int family = 0;
  unsigned char bytes[16] = {};
};

std::optional<Raw> parse_address(const std::string& text) {
  Raw r;
  if (::inet_pton(AF_INET, text.c_str(), r.bytes) == 1) {
    r.family = AF_INET;
  } else if (::inet_pton(AF_INET6, text.c_str(), r.bytes) == 1) {
    r.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  return r;
}

}  // namespace

bool is_static(std::string_view ip) { return !ip.empty() && ip != "dhcp" && ip != "manual" && ip != "auto"; }

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  Cidr c;
  c.address = std::string(text.substr(0, slash));
  const auto prefix = to_int(text.substr(slash + 1));
  const auto raw = parse_address(c.address);
  if (!raw || !prefix) return std::nullopt;
  c.family = raw->family;
  c.prefix = *prefix;
  if (c.prefix < 0 || c.prefix > (c.family == AF_INET ? 32 : 128)) return std::nullopt;
  return c;
}

bool ip_in_cidr(std::string_view ip, std::string_view cidr) {
  const auto net = parse_cidr(cidr);
  const auto addr = parse_address(std::string(ip));
  if (!net || !addr || addr->family != net->family) return false;
  const auto base = parse_address(net->address);
  for (int bit = 0; bit < net->prefix; ++bit) {
    const unsigned char mask = static_cast<unsigned char>(0x80 >> (bit % 8));
    if ((addr->bytes[bit / 8] & mask) != (base->bytes[bit / 8] & mask)) return false;
  }
  return true;
}

std::string ipv4_netmask(int prefix) {
  const std::uint32_t mask = prefix <= 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return std::to_string(mask >> 24) + "." + std::to_string((mask >> 16) & 255) + "." +
         std::to_string((mask >> 8) & 255) + "." + std::to_string(mask & 255);
}

}  // namespace pvx::guest::lxc::setup
