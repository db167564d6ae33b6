#include "auth/acl.h"

#include <algorithm>
#include <set>

namespace pvx::auth {
namespace {

// The roles of one member kind at one ACL node that apply at this depth.
void apply(const RoleFlags& entries, bool final, RoleFlags& out) {
  for (const auto& [role, propagate] : entries) {
    if (final || propagate) out[role] = propagate;
  }
}

RoleFlags walk(const UserConfig& cfg, std::string_view authid, const std::string& path) {
  RoleFlags roles;
  // Group entries apply to users only (a token's own entries are its users and tokens lines).
  const UserEntry* user = authid.find('!') == std::string_view::npos ? cfg.user(authid) : nullptr;
  // Prefixes of the normalised path: "/", "/vms", "/vms/100" (views: no allocation per check).
  const std::string_view full(path);
  std::vector<std::string_view> levels{"/"};
  for (size_t i = 1; i <= full.size(); ++i) {
    if (i == full.size() || full[i] == '/') {
      if (i > 1) levels.push_back(full.substr(0, i));
    }
  }
  for (size_t i = 0; i < levels.size(); ++i) {
    auto node = cfg.acl.find(levels[i]);
    if (node == cfg.acl.end()) continue;
    bool final = i + 1 == levels.size();
    RoleFlags found;
    if (auto t = node->second.tokens.find(authid); t != node->second.tokens.end()) apply(t->second, final, found);
    if (found.empty()) {
      if (auto u = node->second.users.find(authid); u != node->second.users.end()) apply(u->second, final, found);
    }
    if (found.empty() && user && !node->second.groups.empty()) {
      // Whichever side is smaller is walked: a path with many group entries, or a user in many groups.
      const auto& entries_by_group = node->second.groups;
      if (user->groups.size() < entries_by_group.size()) {
        for (const auto& group : user->groups) {
          if (auto e = entries_by_group.find(group); e != entries_by_group.end()) apply(e->second, final, found);
        }
      } else {
        for (const auto& [group, entries] : entries_by_group) {
          if (user->groups.contains(group)) apply(entries, final, found);
        }
      }
    }
    if (!found.empty()) roles = std::move(found);
  }
  if (auto na = roles.find(kNoAccessRole); na != roles.end()) return RoleFlags{{na->first, na->second}};
  return roles;
}

// acl_roles plus the roles inherited from pools, for a user or a privsep token.
RoleFlags roles_with_pools(const UserConfig& cfg, std::string_view authid, const std::string& path) {
  RoleFlags roles = walk(cfg, authid, path);
  if (roles.contains(kNoAccessRole)) return roles;
  std::set<std::string, std::less<>> pool_roles;
  for (const auto& [name, pool] : cfg.pools) {
    bool member = false;
    if (path.starts_with("/vms/")) member = pool.vms.contains(std::string_view(path).substr(5));
    if (path.starts_with("/storage/")) member = pool.storage.contains(std::string_view(path).substr(9));
    if (!member) continue;
    for (const auto& [role, propagate] : walk(cfg, authid, "/pool/" + name)) pool_roles.insert(role);
  }
  if (pool_roles.contains(kNoAccessRole)) return RoleFlags{{std::string(kNoAccessRole), false}};
  for (const auto& role : pool_roles) roles.try_emplace(role, false);
  return roles;
}

PrivMap privs_of_roles(const UserConfig& cfg, const RoleFlags& roles) {
  PrivMap privs;
  for (const auto& [role, propagate] : roles) {
    auto r = cfg.roles.find(role);
    if (r == cfg.roles.end()) continue;
    for (const auto& p : r->second) privs[p] = privs[p] || propagate;
  }
  return privs;
}

bool roles_grant(const UserConfig& cfg, const RoleFlags& roles, const std::string& priv) {
  for (const auto& [role, propagate] : roles) {
    auto r = cfg.roles.find(role);
    if (r != cfg.roles.end() && r->second.contains(priv)) return true;
  }
  return false;
}

PrivMap all_privs() {
  PrivMap out;
  for (const auto& p : all_privileges()) out[p] = true;
  return out;
}

void add_with_ancestors(const std::string& path, std::set<std::string, AclPathLess>& out) {
  out.insert("/");
  for (size_t i = 1; i <= path.size(); ++i) {
    if ((i == path.size() || path[i] == '/') && i > 1) out.insert(path.substr(0, i));
  }
}

}  // namespace

RoleFlags acl_roles(const UserConfig& cfg, std::string_view authid, std::string_view path) {
  auto norm = normalize_acl_path(path);
  if (!norm) return {};
  if (authid == "root@pam") return RoleFlags{{std::string(kAdministratorRole), true}};
  if (auto parts = split_tokenid(authid)) {
    const TokenEntry* token = cfg.token(authid);
    if (!token) return {};
    if (!token->privsep) return acl_roles(cfg, parts->first, *norm);
  }
  return walk(cfg, authid, *norm);
}

PrivMap effective_privileges(const UserConfig& cfg, const Identity& who, std::string_view path, std::int64_t now) {
  auto norm = normalize_acl_path(path);
  if (!norm) return {};
  if (who.is_root()) return all_privs();  // even if user.cfg disables root: the local CLI runs as root
  if (!cfg.user_active(who.user, now)) return {};
  PrivMap user_privs = who.user == "root@pam" ? all_privs() : privs_of_roles(cfg, roles_with_pools(cfg, who.user, *norm));
  if (!who.is_token()) return user_privs;

  std::string tokenid = who.full();
  const TokenEntry* token = cfg.token(tokenid);
  if (!token || (token->expire != 0 && token->expire < now)) return {};
  if (!token->privsep) return user_privs;
  PrivMap token_privs = privs_of_roles(cfg, roles_with_pools(cfg, tokenid, *norm));
  PrivMap out;
  for (const auto& [priv, propagate] : token_privs) {
    auto u = user_privs.find(priv);
    if (u != user_privs.end()) out[priv] = propagate && u->second;
  }
  return out;
}

bool holds_privileges(const UserConfig& cfg, const Identity& who, std::string_view path,
                      const std::vector<std::string>& privs, bool any, std::int64_t now) {
  auto norm = normalize_acl_path(path);
  if (!norm) return false;
  if (!who.is_root()) {
    if (!cfg.user_active(who.user, now)) return false;
  }
  const bool root_user = who.is_root() || who.user == "root@pam";
  RoleFlags user_roles, token_roles;
  const bool privsep_token = !who.is_root() && who.is_token() && [&] {
    const TokenEntry* token = cfg.token(who.full());
    return token && token->privsep;
  }();
  if (!who.is_root() && who.is_token()) {
    const TokenEntry* token = cfg.token(who.full());
    if (!token || (token->expire != 0 && token->expire < now)) return false;
  }
  if (!root_user) user_roles = roles_with_pools(cfg, who.user, *norm);
  if (privsep_token) token_roles = roles_with_pools(cfg, who.full(), *norm);
  auto held = [&](const std::string& priv) {
    if (!root_user && !roles_grant(cfg, user_roles, priv)) return false;
    if (root_user && !all_privileges().contains(priv)) return false;
    return !privsep_token || roles_grant(cfg, token_roles, priv);
  };
  if (any) return std::any_of(privs.begin(), privs.end(), held);
  return std::all_of(privs.begin(), privs.end(), held);
}

std::vector<std::string> acl_tree_paths(const UserConfig& cfg) {
  std::set<std::string, AclPathLess> paths;
  paths.insert("/");
  for (const auto& [path, node] : cfg.acl) add_with_ancestors(path, paths);
  return {paths.begin(), paths.end()};
}

std::vector<std::string> permission_paths(const UserConfig& cfg) {
  std::set<std::string, AclPathLess> paths{"/",        "/access", "/access/groups", "/nodes",
                                           "/pool",    "/sdn",    "/storage",       "/vms"};
  for (const auto& p : acl_tree_paths(cfg)) paths.insert(p);
  for (const auto& [name, pool] : cfg.pools) {
    for (const auto& vmid : pool.vms) paths.insert("/vms/" + vmid);
    for (const auto& sid : pool.storage) paths.insert("/storage/" + sid);
  }
  return {paths.begin(), paths.end()};
}

}  // namespace pvx::auth
