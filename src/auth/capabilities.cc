#include "auth/capabilities.h"

#include <cctype>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/acl.h"

namespace pvx::auth {
namespace {

struct Area {
  const char* name;
  std::vector<std::string_view> prefixes;  // a privilege counts when it starts with one of these
};

const std::vector<Area>& areas() {
  static const std::vector<Area> kAreas = {
      {"vms", {"VM.", "Permissions.Modify"}},
      {"access", {"User.", "Group.", "Permissions.Modify"}},
      {"storage", {"Datastore.", "Permissions.Modify"}},
      {"nodes", {"Sys.", "Permissions.Modify"}},
      {"sdn", {"SDN.", "Permissions.Modify"}},
      {"dc", {"Sys.Audit", "Sys.Modify", "SDN."}},
      {"mapping", {"Mapping.", "Permissions.Modify"}},
  };
  return kAreas;
}

// The first path component as PVE's /^\/(\w+)/ sees it; "dc" for "/".
std::string top_level(std::string_view path) {
  size_t i = 1;
  while (i < path.size() && (std::isalnum(static_cast<unsigned char>(path[i])) || path[i] == '_')) ++i;
  return i > 1 ? std::string(path.substr(1, i - 1)) : std::string("dc");
}

nlohmann::json priv_object(const PrivMap& privs) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [priv, propagate] : privs) out[priv] = propagate ? 1 : 0;
  return out;
}

}  // namespace

nlohmann::json permissions_json(const UserConfig& cfg, const Identity& who, const std::optional<std::string>& path,
                                std::int64_t now) {
  nlohmann::json out = nlohmann::json::object();
  if (path) {
    out[*path] = priv_object(effective_privileges(cfg, who, *path, now));
    return out;
  }
  for (const auto& p : permission_paths(cfg)) {
    PrivMap privs = effective_privileges(cfg, who, p, now);
    if (!privs.empty()) out[p] = priv_object(privs);
  }
  return out;
}

nlohmann::json capabilities_json(const UserConfig& cfg, const Identity& who, std::int64_t now) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& a : areas()) out[a.name] = nlohmann::json::object();

  std::set<std::string> checked;
  std::vector<std::string> paths = {"/", "/nodes", "/access/groups", "/vms", "/storage", "/sdn", "/mapping"};
  for (const auto& p : acl_tree_paths(cfg)) paths.push_back(p);
  for (const auto& path : paths) {
    if (!checked.insert(path).second) continue;
    PrivMap privs = effective_privileges(cfg, who, path, now);
    std::string top = top_level(path);
    if (top == "pool") {
      for (const auto& [priv, propagate] : privs) {
        if (priv.starts_with("VM.")) out["vms"][priv] = 1;
        if (priv.starts_with("Datastore.")) out["storage"][priv] = 1;
        if (priv == "Permissions.Modify") out["vms"][priv] = out["storage"][priv] = 1;
      }
      continue;
    }
    for (const auto& a : areas()) {
      if (top != a.name) continue;
      for (const auto& [priv, propagate] : privs) {
        for (auto prefix : a.prefixes) {
          if (priv.starts_with(prefix)) out[a.name][priv] = 1;
        }
      }
    }
  }
  return out;
}

}  // namespace pvx::auth
