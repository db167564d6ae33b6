#include "guest/guest_configs.h"

#include <algorithm>

#include "base/error.h"
#include "base/log.h"
#include "cluster/config_store.h"

namespace pvx::guest {

GuestConfigs::GuestConfigs(cluster::ConfigStore& store, std::string node, std::string type_dir, std::string lock_file)
    : store_(store), node_(std::move(node)), type_dir_(std::move(type_dir)), lock_file_(std::move(lock_file)) {}

std::string GuestConfigs::path(std::int64_t vmid) const {
  return "nodes/" + node_ + "/" + type_dir_ + "/" + std::to_string(vmid) + ".conf";
}

std::optional<LoadedGuestConfig> GuestConfigs::load(std::int64_t vmid) {
  auto entry = store_.read(path(vmid));
  if (!entry) return std::nullopt;
  return LoadedGuestConfig{parse_guest_config(entry->data, vmid), entry->digest(), entry->version};
}

LoadedGuestConfig GuestConfigs::load_or_throw(std::int64_t vmid) {
  auto c = load(vmid);
  if (!c) throw Error("Configuration file '" + path(vmid) + "' does not exist", 500);
  return std::move(*c);
}

void GuestConfigs::update(std::int64_t vmid, const std::function<bool(GuestConfig&)>& change, const std::string& digest) {
  cluster::LockGuardPtr guard;
  try {
    guard = store_.lock("vm-" + std::to_string(vmid), std::chrono::seconds(10));
  } catch (const Error&) {
    std::string file = lock_file_;
    if (auto at = file.find("{}"); at != std::string::npos) file.replace(at, 2, std::to_string(vmid));
    throw Error("can't lock file '" + file + "' - got timeout", 500);
  }
  auto loaded = load_or_throw(vmid);
  if (!digest.empty() && digest != loaded.digest) {
    throw Error("detected modified configuration - file changed by other user? Try again.", 400);
  }
  if (!change(loaded.config)) return;
  if (!store_.write(path(vmid), print_guest_config(loaded.config), loaded.version)) {
    throw Error("unable to write '" + path(vmid) + "' - it was changed meanwhile, try again", 500);
  }
}

void GuestConfigs::create(std::int64_t vmid, const GuestConfig& config) {
  const std::string id = std::to_string(vmid) + ".conf";
  const std::string what = (type_dir_ == "lxc" ? "CT " : "VM ") + std::to_string(vmid) + " already exists";
  for (const auto& p : store_.list("nodes/")) {
    if (p.ends_with("/qemu-server/" + id) || p.ends_with("/lxc/" + id)) throw Error(what, 500);
  }
  if (!store_.write(path(vmid), print_guest_config(config), 0)) throw Error(what, 500);
}

void GuestConfigs::remove(std::int64_t vmid) { store_.remove(path(vmid)); }

void GuestConfigs::with_lock(std::int64_t vmid, const std::string& lock, const std::function<void()>& fn,
                             bool skiplock) {
  update(vmid, [&](GuestConfig& c) {
    check_not_locked(c, skiplock);
    c.main.values["lock"] = lock;
    return true;
  });
  auto clear = [&] {
    update(vmid, [&](GuestConfig& c) {
      auto it = c.main.values.find("lock");
      if (it == c.main.values.end() || it->second != lock) return false;
      c.main.values.erase(it);
      return true;
    });
  };
  try {
    fn();
  } catch (...) {
    try {
      clear();
    } catch (const std::exception& e) {
      log::warn("guest " + std::to_string(vmid) + ": cannot clear lock '" + lock + "': " + e.what());
    }
    throw;
  }
  clear();
}

std::vector<std::int64_t> GuestConfigs::list_vmids() {
  std::vector<std::int64_t> out;
  const std::string prefix = "nodes/" + node_ + "/" + type_dir_ + "/";
  for (const auto& p : store_.list(prefix)) {
    std::string name = p.substr(prefix.size());
    if (!name.ends_with(".conf")) continue;
    name.resize(name.size() - 5);
    if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back(std::stoll(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace pvx::guest
