// `netN` values through the net[n] key format of vm_schema, and PVE-style MAC addresses.
#include "guest/qemu/net.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>

#include "base/error.h"
#include "guest/qemu/vm_schema.h"
#include "schema/validate.h"
#include "schema/value_text.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

std::optional<int> index_of(std::string_view key) {
  if (key.size() < 4 || key.size() > 5 || key.substr(0, 3) != "net") return std::nullopt;
  std::string_view digits = key.substr(3);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 31) return std::nullopt;
  return n;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

}  // namespace

bool is_net_key(std::string_view key) { return index_of(key).has_value(); }

NetDevice parse_net(std::string_view key_view, std::string_view value) {
  const std::string key(key_view);
  auto index = index_of(key);
  const schema::Schema* keys = index ? vm_key_format(key) : nullptr;
  if (keys == nullptr) throw Error::param(key, "invalid network device key '" + key + "'");
  Json p = schema::parse_property_string(*keys, value, key);

  NetDevice net;
  net.key = key;
  net.index = *index;
  net.model = p.value("model", "");
  net.macaddr = upper(p.value("macaddr", ""));
  net.bridge = p.value("bridge", "");
  if (p.contains("tag")) net.tag = p["tag"].get<int>();
  if (p.contains("trunks")) net.trunks = schema::value_text(p["trunks"]);
  if (p.contains("mtu")) net.mtu = p["mtu"].get<int>();
  if (p.contains("rate")) net.rate = p["rate"].get<double>();
  if (p.contains("queues")) net.queues = p["queues"].get<int>();
  net.firewall = p.value("firewall", false);
  net.link_down = p.value("link_down", false);
  return net;
}

std::string print_net(const NetDevice& net) {
  std::string key = net.key.empty() ? "net" + std::to_string(net.index) : net.key;
  const schema::Schema* keys = vm_key_format(key);
  if (keys == nullptr) throw Error::param(key, "invalid network device key '" + key + "'");
  Json v = Json::object();
  v["model"] = net.model;
  if (!net.macaddr.empty()) v["macaddr"] = net.macaddr;
  if (!net.bridge.empty()) v["bridge"] = net.bridge;
  if (net.tag) v["tag"] = *net.tag;
  if (!net.trunks.empty()) v["trunks"] = net.trunks;
  if (net.mtu) v["mtu"] = *net.mtu;
  if (net.rate) v["rate"] = *net.rate;
  if (net.queues) v["queues"] = *net.queues;
  if (net.firewall) v["firewall"] = true;
  if (net.link_down) v["link_down"] = true;
  return schema::print_property_string(*keys, v);
}

std::string generate_mac(std::string_view prefix) {
  std::random_device rd;
  unsigned char b[6];
  for (auto& c : b) c = static_cast<unsigned char>(rd() & 0xff);
  b[0] = static_cast<unsigned char>((b[0] & 0xfe) | 0x02);  // unicast, locally administered
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02X:%02X:%02X:%02X:%02X:%02X", b[0], b[1], b[2], b[3], b[4], b[5]);
  std::string mac = buf;
  // As PVE: the (upper-cased) prefix replaces the first characters of the random address.
  std::string p = upper(std::string(prefix.substr(0, std::min<std::size_t>(prefix.size(), mac.size()))));
  return p + mac.substr(p.size());
}

std::string tap_name(std::int64_t vmid, int index) { return "tap" + std::to_string(vmid) + "i" + std::to_string(index); }

}  // namespace pvx::guest::qemu
