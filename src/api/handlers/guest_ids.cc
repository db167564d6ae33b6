#include "api/handlers/guest_ids.h"

#include <charconv>

#include "base/strings.h"
#include "cluster/config_store.h"

namespace pvx::api::handlers {

std::map<std::int64_t, GuestRef> guest_ids(cluster::ConfigStore& store) {
  std::map<std::int64_t, GuestRef> out;
  for (const auto& path : store.list("nodes")) {
    // nodes/<node>/<qemu-server|lxc>/<vmid>.conf
    auto parts = split_any(path, "/");
    if (parts.size() != 4 || !parts[3].ends_with(".conf")) continue;
    const std::string& dir = parts[2];
    if (dir != "qemu-server" && dir != "lxc") continue;
    std::int64_t vmid = 0;
    auto name = std::string_view(parts[3]).substr(0, parts[3].size() - 5);
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), vmid);
    if (ec != std::errc() || p != name.data() + name.size()) continue;
    out[vmid] = GuestRef{parts[1], dir == "lxc" ? "lxc" : "qemu"};
  }
  return out;
}

}  // namespace pvx::api::handlers

namespace pvx::api::handlers {

std::vector<std::int64_t> guests_where(cluster::ConfigStore& store,
                                       const std::function<bool(std::string_view key, std::string_view value)>& uses) {
  std::vector<std::int64_t> out;
  for (const auto& [vmid, ref] : guest_ids(store)) {
    std::string path = "nodes/" + ref.node + "/" + (ref.type == "lxc" ? "lxc" : "qemu-server") + "/" +
                       std::to_string(vmid) + ".conf";
    auto entry = store.read(path);
    if (!entry) continue;
    for (const auto& line : split_any(entry->data, "\n")) {
      auto colon = line.find(": ");
      if (colon == std::string::npos) continue;
      std::string_view view(line);
      if (uses(view.substr(0, colon), view.substr(colon + 2))) {
        out.push_back(vmid);
        break;
      }
    }
  }
  return out;
}

}  // namespace pvx::api::handlers
