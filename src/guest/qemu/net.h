#pragma once
// `netN` keys: `<model>=<MAC>,bridge=..,tag=..,...` parse/print and PVE-style MAC addresses.
#include <optional>
#include <string>
#include <string_view>

namespace pvx::guest::qemu {

struct NetDevice {
  std::string key;      // "net0"
  int index = 0;
  std::string model;    // virtio | e1000 | e1000e | rtl8139 | vmxnet3 | ...
  std::string macaddr;  // upper case "BC:24:11:xx:xx:xx"
  std::string bridge;
  std::optional<int> tag;
  std::string trunks;   // "10;20-30"
  std::optional<int> mtu;
  std::optional<double> rate;  // MB/s
  std::optional<int> queues;
  bool firewall = false;
  bool link_down = false;
};

bool is_net_key(std::string_view key);  // net0..31
// Throws Error 400 naming `key`. A missing MAC stays empty (the caller generates one).
NetDevice parse_net(std::string_view key, std::string_view value);
// "virtio=BC:24:11:..,bridge=vmbr0,firewall=1,tag=20" (PVE's order).
std::string print_net(const NetDevice& net);

// A random locally administered unicast MAC with PVE's default prefix (datacenter `mac_prefix`,
// default "BC:24:11"), upper case.
std::string generate_mac(std::string_view prefix = "BC:24:11");
// The tap device of a NIC: "tap<vmid>i<index>".
std::string tap_name(std::int64_t vmid, int index);

}  // namespace pvx::guest::qemu
