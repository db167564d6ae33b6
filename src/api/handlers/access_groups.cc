// /access/groups: user groups (members are kept on the group line of user.cfg).
#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"

namespace pvx::api::handlers {
namespace {

Json list_groups(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json out = Json::array();
  for (const auto& [name, g] : cfg->groups) {
    if (!ctx.allowed("/access/groups/" + name, {"User.Modify", "Sys.Audit", "Group.Allocate"}, true)) continue;
    std::string users;
    for (const auto& u : g.users) users += (users.empty() ? "" : ",") + u;
    Json e = {{"groupid", name}, {"users", users}};
    if (!g.comment.empty()) e["comment"] = g.comment;
    out.push_back(std::move(e));
  }
  return out;
}

const auth::GroupEntry& find_group(const auth::UserConfig& cfg, const std::string& groupid) {
  auto it = cfg.groups.find(groupid);
  if (it == cfg.groups.end()) throw Error("group '" + groupid + "' does not exist", 500);
  return it->second;
}

Json create_group(RequestContext& ctx) {
  const std::string groupid = ctx.str("groupid");
  if (!auth::is_valid_group_name(groupid)) throw Error::param("groupid", "invalid group name '" + groupid + "'");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    if (cfg.groups.count(groupid)) throw Error("create group failed: group '" + groupid + "' already exists", 500);
    cfg.groups[groupid].comment = ctx.opt_str("comment").value_or("");
  });
  return nullptr;
}

Json read_group(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  const auto& g = find_group(*cfg, ctx.str("groupid"));
  Json members = Json::array();
  for (const auto& u : g.users) members.push_back(u);
  Json out = {{"members", members}};
  if (!g.comment.empty()) out["comment"] = g.comment;
  return out;
}

Json update_group(RequestContext& ctx) {
  const std::string groupid = ctx.str("groupid");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    find_group(cfg, groupid);
    if (auto c = ctx.opt_str("comment")) cfg.groups[groupid].comment = *c;
  });
  return nullptr;
}

Json delete_group(RequestContext& ctx) {
  const std::string groupid = ctx.str("groupid");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    const auto& g = find_group(cfg, groupid);
    for (const auto& u : g.users) {
      if (auto it = cfg.users.find(u); it != cfg.users.end()) it->second.groups.erase(groupid);
    }
    cfg.groups.erase(groupid);
    for (auto it = cfg.acl.begin(); it != cfg.acl.end();) {
      it->second.groups.erase(groupid);
      it = it->second.empty() ? cfg.acl.erase(it) : std::next(it);
    }
  });
  return nullptr;
}

}  // namespace

void register_access_groups(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/groups", list_groups, {{"pveum", "group list"}}));
  r.add(decl("POST /access/groups", create_group,
             {{"pveum", "group add", {"groupid"}}, {"pveum", "groupadd", {"groupid"}}}));
  r.add(decl("GET /access/groups/{groupid}", read_group));
  r.add(decl("PUT /access/groups/{groupid}", update_group,
             {{"pveum", "group modify", {"groupid"}}, {"pveum", "groupmod", {"groupid"}}}));
  r.add(decl("DELETE /access/groups/{groupid}", delete_group,
             {{"pveum", "group delete", {"groupid"}}, {"pveum", "groupdel", {"groupid"}}}));
}

}  // namespace pvx::api::handlers
