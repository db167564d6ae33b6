// The NIC part of cfg2cmd: one -netdev + -device pair per netN, as qemu-server builds them.
#include "base/error.h"
#include "guest/qemu/cfg2cmd_internal.h"
#include "guest/qemu/net.h"

namespace pvx::guest::qemu::cfg2cmd_detail {
namespace {
constexpr int kMaxNets = 32;
}  // namespace

void add_nets(Build& b) {
  std::string vmname = b.conf.get_or("name", "vm" + std::to_string(b.in.vmid));
  for (int i = 0; i < kMaxNets; ++i) {
    std::string key = "net" + std::to_string(i);
    auto value = b.conf.get(key);
    if (!value) continue;
    NetDevice net;
    try {
      net = parse_net(key, *value);
    } catch (const Error& e) {
      std::string why = e.params().empty() ? e.what() : e.params().begin()->second;
      throw Error("unable to parse " + key + " '" + *value + "' - " + why, 500);
    }
    if (net.macaddr.empty()) throw Error(key + ": no MAC address", 500);
    bool virtio = net.model == "virtio";

    // A tap pvx creates and puts on the bridge (VLAN tag, firewall bridge, rate) itself, so QEMU
    // runs no script; without a bridge the NIC gets user-mode networking, as in qemu-server.
    std::string netdev;
    if (!net.bridge.empty()) {
      std::string ifname = tap_name(b.in.vmid, i);
      if (ifname.size() >= 16) throw Error("interface name '" + ifname + "' is too long (max 15 character)", 500);
      netdev = "type=tap,id=" + key + ",ifname=" + ifname + ",script=no,downscript=no";
      if (b.kvm && virtio) netdev += ",vhost=on";
    } else {
      netdev = "type=user,id=" + key + ",hostname=" + qemu_escape(vmname);
    }
    if (net.queues && *net.queues > 0 && virtio) netdev += ",queues=" + std::to_string(*net.queues);
    b.dev("-netdev", netdev);

    static const std::set<std::string> models = {
        "e1000",   "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b", "i82559er",
        "ne2k_pci", "pcnet",        "rtl8139",       "virtio",        "vmxnet3"};
    if (!models.count(net.model)) throw Error(key + ": unsupported NIC model '" + net.model + "'", 500);
    std::string dev = (virtio ? std::string("virtio-net-pci") : net.model) + ",mac=" + net.macaddr +
                      ",netdev=" + key + b.pci(key) + ",id=" + key;
    if (virtio && net.queues && *net.queues > 1) {
      // one vector per rx and tx queue, plus config and control
      dev += ",vectors=" + std::to_string(*net.queues * 2 + 2) + ",mq=on";
      if (b.machine_at_least(7, 1)) dev += ",packed=on";
    }
    if (virtio && b.machine_at_least(7, 1)) dev += ",rx_queue_size=1024,tx_queue_size=1024";
    if (auto it = b.bootorder.find(key); it != b.bootorder.end()) dev += ",bootindex=" + std::to_string(it->second);
    if (net.mtu && *net.mtu) {
      // host_mtu only means something to VirtIO on a bridge; qemu-server ignores it otherwise.
      if (virtio && !net.bridge.empty()) {
        auto known = b.in.host.bridge_mtu.find(net.bridge);
        int bridge_mtu = known == b.in.host.bridge_mtu.end() ? 1500 : known->second;
        int mtu = *net.mtu;
        if (mtu == 1) {
          mtu = bridge_mtu;
        } else if (mtu < 576) {
          throw Error("netdev " + key + ": MTU '" + std::to_string(mtu) + "' is smaller than the IP minimum MTU '576'",
                      500);
        } else if (mtu > bridge_mtu) {
          throw Error("netdev " + key + ": MTU '" + std::to_string(mtu) + "' is bigger than the bridge MTU '" +
                          std::to_string(bridge_mtu) + "'",
                      500);
        }
        dev += ",host_mtu=" + std::to_string(mtu);
      }
    }
    b.dev("-device", dev);
  }
}

}  // namespace pvx::guest::qemu::cfg2cmd_detail
