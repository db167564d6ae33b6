// /access/roles: the built-in roles (read-only) and custom roles with validated privilege lists.
#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/roles.h"
#include "auth/user_config.h"

namespace pvx::api::handlers {
namespace {

std::string privs_text(const auth::PrivSet& privs) {
  std::string out;
  for (const auto& p : privs) out += (out.empty() ? "" : ",") + p;
  return out;
}

Json list_roles(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json out = Json::array();
  for (const auto& [name, privs] : cfg->roles) {
    Json e = {{"roleid", name}, {"privs", privs_text(privs)}};
    if (auth::is_builtin_role(name)) e["special"] = 1;
    out.push_back(std::move(e));
  }
  return out;
}

auth::PrivSet parse_privs(const std::string& text) {
  auth::PrivSet out;
  for (const auto& p : id_list(text)) {
    if (!auth::is_valid_privilege(p)) throw Error::param("privs", "invalid privilege '" + p + "'");
    out.insert(p);
  }
  return out;
}

void check_custom(const std::string& roleid) {
  if (auth::is_builtin_role(roleid)) throw Error("cannot modify special role '" + roleid + "'", 500);
}

Json create_role(RequestContext& ctx) {
  const std::string roleid = ctx.str("roleid");
  if (!auth::is_valid_role_name(roleid)) throw Error::param("roleid", "invalid role name '" + roleid + "'");
  if (roleid.starts_with("PVE")) throw Error::param("roleid", "cannot use reserved role name '" + roleid + "'");
  auto privs = parse_privs(ctx.opt_str("privs").value_or(""));
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    if (cfg.roles.count(roleid)) throw Error("create role failed: role '" + roleid + "' already exists", 500);
    cfg.roles[roleid] = privs;
  });
  return nullptr;
}

Json read_role(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  auto it = cfg->roles.find(ctx.str("roleid"));
  if (it == cfg->roles.end()) throw Error("role '" + ctx.str("roleid") + "' does not exist", 500);
  Json out = Json::object();
  for (const auto& p : it->second) out[p] = 1;
  return out;
}

Json update_role(RequestContext& ctx) {
  const std::string roleid = ctx.str("roleid");
  check_custom(roleid);
  auto privs = parse_privs(ctx.opt_str("privs").value_or(""));
  bool append = ctx.flag("append");
  if (append && !ctx.has("privs")) throw Error::param("append", "'append' requires 'privs'");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    auto it = cfg.roles.find(roleid);
    if (it == cfg.roles.end()) throw Error("role '" + roleid + "' does not exist", 500);
    if (!append) it->second.clear();
    it->second.insert(privs.begin(), privs.end());
  });
  return nullptr;
}

Json delete_role(RequestContext& ctx) {
  const std::string roleid = ctx.str("roleid");
  check_custom(roleid);
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    if (!cfg.roles.erase(roleid)) throw Error("role '" + roleid + "' does not exist", 500);
    for (auto it = cfg.acl.begin(); it != cfg.acl.end();) {
      for (auto* members : {&it->second.users, &it->second.groups, &it->second.tokens}) {
        for (auto m = members->begin(); m != members->end();) {
          m->second.erase(roleid);
          m = m->second.empty() ? members->erase(m) : std::next(m);
        }
      }
      it = it->second.empty() ? cfg.acl.erase(it) : std::next(it);
    }
  });
  return nullptr;
}

}  // namespace

void register_access_roles(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/roles", list_roles, {{"pveum", "role list"}}));
  r.add(decl("POST /access/roles", create_role, {{"pveum", "role add", {"roleid"}}, {"pveum", "roleadd", {"roleid"}}}));
  r.add(decl("GET /access/roles/{roleid}", read_role));
  r.add(decl("PUT /access/roles/{roleid}", update_role,
             {{"pveum", "role modify", {"roleid"}}, {"pveum", "rolemod", {"roleid"}}}));
  r.add(decl("DELETE /access/roles/{roleid}", delete_role,
             {{"pveum", "role delete", {"roleid"}}, {"pveum", "roledel", {"roleid"}}}));
}

}  // namespace pvx::api::handlers
