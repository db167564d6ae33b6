// /access/users (with API tokens), /access/acl and /access/roles: the user-management part the
// core needs (creating users, tokens and ACL entries). Groups, pools, realms and TFA come with the
// access-control work.
#include <ctime>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "base/strings.h"
#include "schema/formats.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Schema userid_param() { return std_opt::userid(); }
Schema tokenid_param() {
  return string("User-specific token identifier.").pat(R"([A-Za-z][A-Za-z0-9\.\-_]+)");
}

Json user_json(const std::string& userid, const auth::UserEntry& u, bool with_tokens) {
  Json e = {{"userid", userid}, {"enable", u.enable ? 1 : 0}, {"expire", u.expire}};
  if (!u.firstname.empty()) e["firstname"] = u.firstname;
  if (!u.lastname.empty()) e["lastname"] = u.lastname;
  if (!u.email.empty()) e["email"] = u.email;
  if (!u.comment.empty()) e["comment"] = u.comment;
  if (!u.keys.empty()) e["keys"] = u.keys;
  std::string groups;
  for (const auto& g : u.groups) groups += (groups.empty() ? "" : ",") + g;
  if (!groups.empty()) e["groups"] = groups;
  auto at = userid.rfind('@');
  e["realm-type"] = userid.substr(at + 1) == "pam" ? "pam" : userid.substr(at + 1) == "pve" ? "pve" : "";
  if (with_tokens) {
    Json tokens = Json::array();
    for (const auto& [name, t] : u.tokens) {
      Json te = {{"tokenid", name}, {"expire", t.expire}, {"privsep", t.privsep ? 1 : 0}};
      if (!t.comment.empty()) te["comment"] = t.comment;
      tokens.push_back(std::move(te));
    }
    e["tokens"] = std::move(tokens);
  }
  return e;
}

const auth::UserEntry& find_user(const auth::UserConfig& cfg, const std::string& userid) {
  const auth::UserEntry* u = cfg.user(userid);
  if (!u) throw Error("no such user ('" + userid + "')", 500);
  return *u;
}

Json list_users(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  bool audit_all = ctx.allowed("/access/groups", {"User.Modify", "Sys.Audit"}, true);
  auto enabled = ctx.opt_integer("enabled");
  Json out = Json::array();
  for (const auto& [userid, u] : cfg->users) {
    if (enabled && (*enabled != 0) != u.enable) continue;
    bool visible = audit_all || userid == ctx.who().user;
    for (const auto& g : u.groups) {
      visible = visible || ctx.allowed("/access/groups/" + g, {"User.Modify", "Sys.Audit"}, true);
    }
    if (visible) out.push_back(user_json(userid, u, ctx.flag("full")));
  }
  return out;
}

Json create_user(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  auto& auth = *ctx.services().auth;
  std::vector<std::string> groups;
  if (auto g = ctx.opt_str("groups")) groups = split_list(*g);
  auth.update_user_config([&](auth::UserConfig& cfg) {
    if (cfg.users.count(userid)) throw Error("create user failed: user '" + userid + "' already exists", 500);
    auth::UserEntry u;
    u.enable = ctx.flag("enable", true);
    u.expire = ctx.integer_or("expire", 0);
    u.firstname = ctx.opt_str("firstname").value_or("");
    u.lastname = ctx.opt_str("lastname").value_or("");
    u.email = ctx.opt_str("email").value_or("");
    u.comment = ctx.opt_str("comment").value_or("");
    u.keys = ctx.opt_str("keys").value_or("");
    for (const auto& g : groups) {
      auto it = cfg.groups.find(g);
      if (it == cfg.groups.end()) throw Error::param("groups", "no such group '" + g + "'");
      it->second.users.insert(userid);
      u.groups.insert(g);
    }
    cfg.users[userid] = std::move(u);
  });
  if (auto pw = ctx.opt_str("password")) {
    try {
      auth.set_password(userid, *pw);
    } catch (...) {
      auth.remove_user(userid);  // no half-created user without the password that was asked for
      throw;
    }
  }
  return nullptr;
}

Json token_info(const auth::TokenEntry& t) {
  Json e = {{"expire", t.expire}, {"privsep", t.privsep ? 1 : 0}};
  if (!t.comment.empty()) e["comment"] = t.comment;
  return e;
}

Json generate_token(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  std::string tokenid = ctx.str("tokenid");
  auto& auth = *ctx.services().auth;
  std::string secret = auth.create_token(userid, tokenid, ctx.flag("privsep", true), ctx.integer_or("expire", 0),
                                         ctx.opt_str("comment").value_or(""));
  const auth::TokenEntry* t = auth.user_config()->token(userid + "!" + tokenid);
  return Json{{"full-tokenid", userid + "!" + tokenid},
              {"info", t ? token_info(*t) : Json::object()},
              {"value", secret}};
}

Json read_acl(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json out = Json::array();
  auto add = [&](const std::string& path, const char* type, const std::string& ugid, const auth::RoleFlags& roles) {
    for (const auto& [role, propagate] : roles) {
      out.push_back({{"path", path}, {"type", type}, {"ugid", ugid}, {"roleid", role},
                     {"propagate", propagate ? 1 : 0}});
    }
  };
  for (const auto& [path, node] : cfg->acl) {
    if (!ctx.allowed(path, {"Permissions.Modify", "Sys.Audit"}, true)) continue;
    for (const auto& [u, r] : node.users) add(path, "user", u, r);
    for (const auto& [g, r] : node.groups) add(path, "group", g, r);
    for (const auto& [t, r] : node.tokens) add(path, "token", t, r);
  }
  return out;
}

Json update_acl(RequestContext& ctx) {
  auto path = auth::normalize_acl_path(ctx.str("path"));
  if (!path) throw Error::param("path", "invalid ACL path '" + ctx.str("path") + "'");
  auto roles = split_list(ctx.str("roles"));
  auto users = split_list(ctx.opt_str("users").value_or(""));
  auto groups = split_list(ctx.opt_str("groups").value_or(""));
  auto tokens = split_list(ctx.opt_str("tokens").value_or(""));
  if (users.empty() && groups.empty() && tokens.empty()) {
    throw Error::param("users", "at least one of users, groups or tokens is required");
  }
  bool remove = ctx.flag("delete");
  bool propagate = ctx.flag("propagate", true);
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    for (const auto& r : roles) {
      if (!cfg.roles.count(r)) throw Error::param("roles", "role '" + r + "' does not exist");
    }
    auto& node = cfg.acl[*path];
    auto apply = [&](std::map<std::string, auth::RoleFlags, std::less<>>& members, const std::string& id) {
      for (const auto& r : roles) {
        if (remove) {
          if (auto it = members.find(id); it != members.end()) {
            it->second.erase(r);
            if (it->second.empty()) members.erase(it);
          }
        } else {
          members[id][r] = propagate;
        }
      }
    };
    for (const auto& u : users) {
      if (!remove && !cfg.user(u)) throw Error::param("users", "user '" + u + "' does not exist");
      apply(node.users, u);
    }
    for (const auto& g : groups) {
      if (!remove && !cfg.groups.count(g)) throw Error::param("groups", "group '" + g + "' does not exist");
      apply(node.groups, g);
    }
    for (const auto& t : tokens) {
      if (!remove && !cfg.token(t)) throw Error::param("tokens", "token '" + t + "' does not exist");
      apply(node.tokens, t);
    }
    if (node.empty()) cfg.acl.erase(*path);
  });
  return nullptr;
}

}  // namespace

void register_access_users(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/access/users",
      .description = "User index.",
      .parameters = ref(object({
          {"enabled", boolean("Optional filter for enable property.").opt()},
          {"full", boolean("Include group and token information.").def(0).opt()},
      })),
      .returns = ref(array(object({
                               {"userid", string("Full User ID, in the `name@realm` format.")},
                               {"enable", boolean("Enable the account (default). You can set this to '0' to "
                                                  "disable the account").opt()},
                               {"expire", integer("Account expiration date (seconds since epoch). '0' means no "
                                                  "expiration date.").min(0).opt()},
                               {"firstname", string().opt()},
                               {"lastname", string().opt()},
                               {"email", string().opt()},
                               {"comment", string().opt()},
                               {"keys", string().opt()},
                               {"groups", string().opt()},
                               {"realm-type", string("The type of the users realm").opt()},
                               {"tokens", array(object({}).additional()).opt()},
                           }))
                         .link("{userid}")),
      .permission = all().describe(
          "The returned list is restricted to users where you have 'User.Modify' or 'Sys.Audit' permissions on "
          "'/access/groups' or on a group the user belongs too. But it always includes the current (authenticated) "
          "user."),
      .protected_ = true,
      .handler = list_users,
      .cli = {{"pveum", "user list"}},
  });
  r.add({
      .name = "create_user",
      .verb = Verb::Post,
      .path = "/access/users",
      .description = "Create new user.",
      .parameters = ref(object({
          {"userid", userid_param()},
          {"password", string("Initial password.").min_len(8).max_len(64).opt()},
          {"comment", string().max_len(2048).opt()},
          {"email", string().fmt("email").max_len(254).opt()},
          {"enable", boolean("Enable the account (default). You can set this to '0' to disable the account")
                         .def(1).opt()},
          {"expire", integer("Account expiration date (seconds since epoch). '0' means no expiration date.")
                         .min(0).def(0).opt()},
          {"firstname", string().max_len(1024).opt()},
          {"lastname", string().max_len(1024).opt()},
          {"groups", string().fmt("pve-groupid-list").opt()},
          {"keys", string("Keys for two factor auth (yubico).").pat("[0-9a-zA-Z!=]{0,4096}").opt()},
      })),
      .returns = ref(null_type()),
      .permission = all_of({userid_realm("Realm.AllocateUser"), userid_group({"User.Modify"}, "create")})
                        .describe("You need 'Realm.AllocateUser' on '/access/realm/<realm>' on the realm of user "
                                  "<userid>, and 'User.Modify' permissions to '/access/groups/<group>' for any group "
                                  "specified (or 'User.Modify' on '/access/groups' if you pass no groups."),
      .protected_ = true,
      .handler = create_user,
      .cli = {{"pveum", "user add", {"userid"}}, {"pveum", "useradd", {"userid"}}},
  });
  r.add({
      .name = "read_user",
      .verb = Verb::Get,
      .path = "/access/users/{userid}",
      .description = "Get user configuration.",
      .parameters = ref(object({{"userid", userid_param()}})),
      .returns = ref(object({}).additional()),
      .permission = userid_group({"User.Modify", "Sys.Audit"}),
      .handler = [](RequestContext& ctx) {
        auto cfg = ctx.services().auth->user_config();
        std::string userid = ctx.str("userid");
        Json e = user_json(userid, find_user(*cfg, userid), false);
        e.erase("userid");
        e.erase("realm-type");
        Json groups = Json::array();
        for (const auto& g : find_user(*cfg, userid).groups) groups.push_back(g);
        e["groups"] = groups;
        Json tokens = Json::object();
        for (const auto& [name, t] : find_user(*cfg, userid).tokens) tokens[name] = token_info(t);
        e["tokens"] = tokens;
        return e;
      },
  });
  r.add({
      .name = "delete_user",
      .verb = Verb::Delete,
      .path = "/access/users/{userid}",
      .description = "Delete user.",
      .parameters = ref(object({{"userid", userid_param()}})),
      .returns = ref(null_type()),
      .permission = all_of({userid_realm("Realm.AllocateUser"), userid_group({"User.Modify"})}),
      .protected_ = true,
      .handler = [](RequestContext& ctx) {
        ctx.services().auth->remove_user(ctx.str("userid"));
        return Json(nullptr);
      },
      .cli = {{"pveum", "user delete", {"userid"}}, {"pveum", "userdel", {"userid"}}},
  });
  r.add({
      .name = "token_index",
      .verb = Verb::Get,
      .path = "/access/users/{userid}/token",
      .description = "Get user API tokens.",
      .parameters = ref(object({{"userid", userid_param()}})),
      .returns = ref(array(object({
                               {"tokenid", tokenid_param()},
                               {"comment", string().opt()},
                               {"expire", integer().opt()},
                               {"privsep", boolean().opt()},
                           }))
                         .link("{tokenid}")),
      .permission = any_of({userid_self(), userid_group({"User.Modify"})}),
      .handler = [](RequestContext& ctx) {
        auto cfg = ctx.services().auth->user_config();
        Json out = Json::array();
        for (const auto& [name, t] : find_user(*cfg, ctx.str("userid")).tokens) {
          Json e = token_info(t);
          e["tokenid"] = name;
          out.push_back(std::move(e));
        }
        return out;
      },
      .cli = {{"pveum", "user token list", {"userid"}}},
  });
  auto token_params = [] { return object({{"userid", userid_param()}, {"tokenid", tokenid_param()}}); };
  r.add({
      .name = "read_token",
      .verb = Verb::Get,
      .path = "/access/users/{userid}/token/{tokenid}",
      .description = "Get specific API token information.",
      .parameters = ref(token_params()),
      .returns = ref(object({{"comment", string().opt()}, {"expire", integer().opt()}, {"privsep", boolean().opt()}})),
      .permission = any_of({userid_self(), userid_group({"User.Modify"})}),
      .handler = [](RequestContext& ctx) {
        auto cfg = ctx.services().auth->user_config();
        const auth::TokenEntry* t = cfg->token(ctx.str("userid") + "!" + ctx.str("tokenid"));
        if (!t) throw Error("no such token '" + ctx.str("tokenid") + "' for user '" + ctx.str("userid") + "'");
        return token_info(*t);
      },
  });
  r.add({
      .name = "generate_token",
      .verb = Verb::Post,
      .path = "/access/users/{userid}/token/{tokenid}",
      .description = "Generate a new API token for a specific user. NOTE: returns API token value, which needs "
                     "to be stored as it cannot be retrieved afterwards!",
      .parameters = ref(object({
          {"userid", userid_param()},
          {"tokenid", tokenid_param()},
          {"comment", string().opt()},
          {"expire", integer("API token expiration date (seconds since epoch). '0' means no expiration date.")
                         .min(0).opt()},
          {"privsep", boolean("Restrict API token privileges with separate ACLs (default), or give full "
                              "privileges of corresponding user.").def(1).opt()},
      })),
      .returns = ref(object({
          {"full-tokenid", string("The full token id.")},
          {"info", object({}).additional()},
          {"value", string("API token value used for authentication.")},
      })),
      .permission = any_of({userid_self(), userid_group({"User.Modify"})}),
      .protected_ = true,
      .handler = generate_token,
      .cli = {{"pveum", "user token add", {"userid", "tokenid"}}},
  });
  r.add({
      .name = "remove_token",
      .verb = Verb::Delete,
      .path = "/access/users/{userid}/token/{tokenid}",
      .description = "Remove API token for a specific user.",
      .parameters = ref(token_params()),
      .returns = ref(null_type()),
      .permission = any_of({userid_self(), userid_group({"User.Modify"})}),
      .protected_ = true,
      .handler = [](RequestContext& ctx) {
        ctx.services().auth->remove_token(ctx.str("userid"), ctx.str("tokenid"));
        return Json(nullptr);
      },
      .cli = {{"pveum", "user token remove", {"userid", "tokenid"}}},
  });
  r.add({
      .name = "read_acl",
      .verb = Verb::Get,
      .path = "/access/acl",
      .description = "Get Access Control List (ACLs).",
      .parameters = ref(object({})),
      .returns = ref(array(object({
          {"path", string("Access control path")},
          {"type", enumeration({"user", "group", "token"})},
          {"ugid", string()},
          {"roleid", string()},
          {"propagate", boolean("Allow to propagate (inherit) permissions.").opt()},
      }))),
      .permission = all().describe("The returned list is restricted to objects where you have rights to modify "
                                   "permissions."),
      .handler = read_acl,
      .cli = {{"pveum", "acl list"}},
  });
  r.add({
      .name = "update_acl",
      .verb = Verb::Put,
      .path = "/access/acl",
      .description = "Update Access Control List (add or remove permissions).",
      .parameters = ref(object({
          {"path", string("Access control path")},
          {"roles", string("List of roles.").fmt("pve-roleid-list")},
          {"users", string("List of users.").fmt("pve-userid-list").opt()},
          {"groups", string("List of groups.").fmt("pve-groupid-list").opt()},
          {"tokens", string("List of API tokens.").fmt("pve-tokenid-list").opt()},
          {"propagate", boolean("Allow to propagate (inherit) permissions.").def(1).opt()},
          {"delete", boolean("Remove permissions (instead of adding it).").opt()},
      })),
      .returns = ref(null_type()),
      .permission = perm("{path}", {"Permissions.Modify"}),
      .protected_ = true,
      .handler = update_acl,
      .cli = {{"pveum", "acl modify", {"path"}},
              {"pveum", "aclmod", {"path"}},
              {"pveum", "acl delete", {"path"}, {{"delete", "1"}}},
              {"pveum", "acldel", {"path"}, {{"delete", "1"}}}},
  });
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/access/roles",
      .description = "Role index.",
      .parameters = ref(object({})),
      .returns = ref(array(object({
                               {"roleid", string()},
                               {"privs", string().opt()},
                               {"special", boolean().opt()},
                           }))
                         .link("{roleid}")),
      .permission = all(),
      .handler = [](RequestContext& ctx) {
        auto cfg = ctx.services().auth->user_config();
        Json out = Json::array();
        for (const auto& [name, privs] : cfg->roles) {
          std::string list;
          for (const auto& p : privs) list += (list.empty() ? "" : ",") + p;
          Json e = {{"roleid", name}, {"privs", list}};
          if (auth::is_builtin_role(name)) e["special"] = 1;
          out.push_back(std::move(e));
        }
        return out;
      },
      .cli = {{"pveum", "role list"}},
  });
}

}  // namespace pvx::api::handlers
