// Pending changes a running VM takes without a restart: the fast-plug options (name, tags,
// onboot, ...), the balloon target, and a NIC's link state and rate limit. Everything else stays
// in [PENDING] until the next start, as PVE shows it.
#include "base/error.h"
#include "base/log.h"
#include "guest/qemu/config_update.h"
#include "guest/qemu/net.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_service_impl.h"
#include "network/guest_port.h"
#include "network/netlink.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

// Whether two NIC values differ only in link_down and rate (what a running tap can change).
bool only_link_or_rate_changed(const NetDevice& a, const NetDevice& b) {
  return a.model == b.model && a.macaddr == b.macaddr && a.bridge == b.bridge && a.tag == b.tag &&
         a.trunks == b.trunks && a.mtu == b.mtu && a.queues == b.queues && a.firewall == b.firewall;
}

}  // namespace

void VmService::hotplug_pending(std::int64_t vmid, tasks::TaskContext* task) {
  auto guard = lock_vm(store_, vmid);
  auto loaded = load_or_throw(vmid);
  auto& config = loaded.config;
  const auto vm_paths = paths(vmid);
  if (!find_vm_process(vm_paths)) return;
  bool changed = !apply_fast_plug(config).empty();
  auto say = [task](const std::string& line) {
    if (task) task->log(line);
  };

  std::vector<std::string> keys;
  for (const auto& [key, value] : config.pending.values) keys.push_back(key);
  for (const auto& key : keys) {
    const std::string value = config.pending.values.at(key);
    try {
      if (key == "balloon" && config.main.get_or("balloon", "") != "0" && value != "0") {
        auto target = static_cast<std::int64_t>(std::stoll(value)) * 1024 * 1024;
        QmpClient(vm_paths.qmp(), vmid).execute("balloon", {{"value", target}});
      } else if (is_net_key(key) && config.main.has(key)) {
        auto before = parse_net(key, config.main.values.at(key));
        auto after = parse_net(key, value);
        if (!only_link_or_rate_changed(before, after)) continue;
        const std::string tap = tap_name(vmid, after.index);
        if (before.link_down != after.link_down) {
          QmpClient(vm_paths.qmp(), vmid).execute("set_link", {{"name", key}, {"up", !after.link_down}});
          network::Netlink nl;
          network::set_guest_port_link(nl, tap, after.link_down);
        }
        if (before.rate != after.rate) network::set_guest_port_rate(tap, after.rate);
      } else {
        continue;
      }
      config.main.values[key] = value;
      config.pending.values.erase(key);
      changed = true;
      say("hotplug " + key + ": " + value);
    } catch (const std::exception& e) {
      say("hotplug problem - " + key + ": " + e.what());
    }
  }
  if (changed) write_if_unchanged(store_, config_path(vmid), print_guest_config(config), loaded.version);
}

}  // namespace pvx::guest::qemu
