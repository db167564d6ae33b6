#pragma once
// The NAT side of a pvx-managed bridge (the default `vmbr0` on a fresh host): a private IPv4
// subnet that collides with nothing the host routes, masquerading in pvx's own nftables table,
// and IPv4 forwarding.
#include <optional>
#include <string>
#include <vector>

namespace pvx::network {

struct Ipv4Net {
  unsigned address = 0;  // host byte order
  int prefix = 0;
  unsigned mask() const;     // 255.255.255.0 for /24, as a number
  Ipv4Net network() const;   // the same with the host bits cleared: 10.0.0.5/24 -> 10.0.0.0/24
  std::string text() const;  // "10.0.0.0/24"
  bool overlaps(const Ipv4Net& other) const;
};

// 0x0a000001 -> "10.0.0.1".
std::string ipv4_text(unsigned address);

// Bridge names go into nft scripts (quoted) and into file names: only what Linux interface
// names look like. Error(400) "invalid bridge name '<name>' for <use>".
void check_bridge_name(const std::string& name, const std::string& use);

// "10.1.2.3/24" -> {10.1.2.3, 24}; nullopt when malformed.
std::optional<Ipv4Net> parse_ipv4_cidr(const std::string& text);

// The first /24 of pvx's candidate list (10.187.0.0/24, 10.187.1.0/24, ... then 172.31.x, 192.168.x)
// that overlaps none of `in_use` (routes and addresses of the host, any table). Entries with
// prefix 0 (default routes) are ignored: they cover everything. nullopt when all are taken.
std::optional<Ipv4Net> choose_nat_subnet(const std::vector<Ipv4Net>& in_use);

struct NatBridge {
  std::string bridge;  // "vmbr0"
  Ipv4Net subnet;      // the network, e.g. 10.187.0.0/24
};

// The complete nftables script for table `ip pvx_nat`: one postrouting chain masquerading
// traffic from each bridge's subnet that leaves for another network, and a forward chain that
// lets the bridges' traffic out and only replies back in (new connections into a NAT bridge
// from other interfaces are rejected). Deletes and recreates the table in one transaction; with
// no bridges it only deletes it.
std::string nat_ruleset(const std::vector<NatBridge>& bridges);

// Runs the script through libnftables (atomically) and enables net.ipv4.ip_forward when
// `bridges` is not empty. Error(500) with nft's message on failure.
void apply_nat(const std::vector<NatBridge>& bridges);

}  // namespace pvx::network
