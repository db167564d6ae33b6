// /access/acl: list and change ACL entries, with PVE's rules for callers who may modify
// permissions on a path only through an allocate privilege ("perm-modify").
#include "api/handlers/access_common.h"
#include "api/permission_check.h"
#include "auth/acl_paths.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"

namespace pvx::api::handlers {
namespace {

Json read_acl(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  auto cfg = auth.user_config();
  bool audit = ctx.allowed("/access", {"Sys.Audit"});
  Json out = Json::array();
  auto add = [&](const std::string& path, const char* type, const std::string& ugid, const auth::RoleFlags& roles) {
    for (const auto& [role, propagate] : roles) {
      out.push_back({{"path", path}, {"type", type}, {"ugid", ugid}, {"roleid", role}, {"propagate", propagate ? 1 : 0}});
    }
  };
  for (const auto& [path, node] : cfg->acl) {
    if (!audit && !ctx.allowed(path, perm_modify_privileges(path), true)) continue;
    for (const auto& [u, r] : node.users) add(path, "user", u, r);
    for (const auto& [g, r] : node.groups) add(path, "group", g, r);
    for (const auto& [t, r] : node.tokens) add(path, "token", t, r);
  }
  return out;
}

// Without Permissions.Modify the caller may only hand out (or take back) roles whose privileges
// they hold on the path themselves, and propagate only what propagates for them.
void check_delegation(const Json& own, const auth::UserConfig& cfg, const std::string& role, bool remove, bool propagate) {
  if (own.contains("Permissions.Modify")) return;
  const std::string verb = remove ? "remove" : "add";
  if (role == auth::kNoAccessRole) {
    throw Error::param("role", "Cannot " + verb + " role '" + role + "' - requires 'Permissions.Modify'");
  }
  for (const auto& priv : cfg.roles.at(role)) {
    if (!own.contains(priv)) {
      throw Error::param("role", "Cannot " + verb + " role '" + role +
                                     "' - requires 'Permissions.Modify' or superset of privileges.");
    }
    if (propagate && !remove && own[priv] != 1) {
      throw Error::param("role", "Cannot " + verb + " role '" + role +
                                     "' with propagation - requires 'Permissions.Modify' or propagated superset of "
                                     "privileges.");
    }
  }
}

Json update_acl(RequestContext& ctx) {
  auto users = id_list(ctx.opt_str("users").value_or(""));
  auto groups = id_list(ctx.opt_str("groups").value_or(""));
  auto tokens = id_list(ctx.opt_str("tokens").value_or(""));
  if (users.empty() && groups.empty() && tokens.empty()) {
    const std::string msg = "either 'users', 'groups' or 'tokens' is required.";
    throw Error::params({{"users", msg}, {"groups", msg}, {"tokens", msg}});
  }
  const bool remove = ctx.flag("delete");
  auto path = auth::normalize_acl_path(ctx.str("path"));
  if (!path || (!remove && !auth::is_known_acl_path(*path))) {
    throw Error::param("path", "invalid ACL path '" + ctx.str("path") + "'");
  }
  const bool propagate = ctx.flag("propagate", true);
  auto& auth = *ctx.services().auth;
  Json own = auth.permissions(ctx.who(), *path).value(*path, Json::object());
  auth.update_user_config([&](auth::UserConfig& cfg) {
    auto& node = cfg.acl[*path];
    for (const auto& role : id_list(ctx.str("roles"))) {
      if (!cfg.roles.count(role)) throw Error("role '" + role + "' does not exist", 500);
      check_delegation(own, cfg, role, remove, propagate);
      auto apply = [&](std::map<std::string, auth::RoleFlags, std::less<>>& members, const std::string& id) {
        if (remove) {
          if (auto it = members.find(id); it != members.end()) {
            it->second.erase(role);
            if (it->second.empty()) members.erase(it);
          }
        } else {
          members[id][role] = propagate;
        }
      };
      for (const auto& g : groups) {
        if (!cfg.groups.count(g)) throw Error("group '" + g + "' does not exist", 500);
        apply(node.groups, g);
      }
      for (const auto& u : users) {
        if (!auth::split_userid(u)) throw Error::param("users", "value '" + u + "' does not look like a valid user name");
        if (!cfg.user(u)) throw Error("user '" + u + "' does not exist", 500);
        apply(node.users, u);
      }
      for (const auto& t : tokens) {
        auto parts = auth::split_tokenid(t);
        if (!parts) throw Error::param("tokens", "value '" + t + "' does not look like a valid token ID");
        if (!cfg.token(t)) throw Error("no such token '" + parts->second + "' for user '" + parts->first + "'", 500);
        apply(node.tokens, t);
      }
    }
    if (node.empty()) cfg.acl.erase(*path);
  });
  return nullptr;
}

}  // namespace

void register_access_acl(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/acl", read_acl, {{"pveum", "acl list"}}));
  r.add(decl("PUT /access/acl", update_acl,
             {{"pveum", "acl modify", {"path"}},
              {"pveum", "aclmod", {"path"}},
              {"pveum", "acl delete", {"path"}, {{"delete", "1"}}},
              {"pveum", "acldel", {"path"}, {{"delete", "1"}}}}));
}

}  // namespace pvx::api::handlers
