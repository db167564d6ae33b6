// /access/users and their API tokens (/access/users/{userid}/token/{tokenid}).
#include <ctime>

#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "auth/user_config.h"
#include "base/strings.h"

namespace pvx::api::handlers {
namespace {

std::string realm_type(auth::AuthService& auth, const std::string& userid) {
  auto at = userid.rfind('@');
  auto realms = auth.realms();
  const auth::Realm* r = at == std::string::npos ? nullptr : realms->find(userid.substr(at + 1));
  return r ? r->type : std::string();
}

Json token_info(const auth::TokenEntry& t) {
  Json e = {{"expire", t.expire}, {"privsep", t.privsep ? 1 : 0}};
  if (!t.comment.empty()) e["comment"] = t.comment;
  return e;
}

using LockStates = std::map<std::string, auth::AuthService::TfaLockState>;

Json user_json(auth::AuthService& auth, const std::string& userid, const auth::UserEntry& u, bool with_tokens,
               const LockStates& locks = {}) {
  Json e = {{"userid", userid}, {"enable", u.enable ? 1 : 0}, {"expire", u.expire}};
  if (!u.firstname.empty()) e["firstname"] = u.firstname;
  if (!u.lastname.empty()) e["lastname"] = u.lastname;
  if (!u.email.empty()) e["email"] = u.email;
  if (!u.comment.empty()) e["comment"] = u.comment;
  if (!u.keys.empty()) e["keys"] = u.keys;
  std::string groups;
  for (const auto& g : u.groups) groups += (groups.empty() ? "" : ",") + g;
  if (!groups.empty()) e["groups"] = groups;
  if (auto type = realm_type(auth, userid); !type.empty()) e["realm-type"] = type;
  if (auto lock = locks.find(userid); lock != locks.end()) {
    if (lock->second.locked_until > std::time(nullptr)) e["tfa-locked-until"] = lock->second.locked_until;
    if (lock->second.totp_locked) e["totp-locked"] = 1;
  }
  if (with_tokens) {
    // The list shape of the tokens (GET /access/users/{userid} returns an object keyed by id).
    Json tokens = Json::array();
    for (const auto& [name, t] : u.tokens) {
      Json te = token_info(t);
      te["tokenid"] = name;
      tokens.push_back(std::move(te));
    }
    e["tokens"] = std::move(tokens);
  }
  return e;
}

Json list_users(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  auto cfg = auth.user_config();
  bool audit_all = ctx.allowed("/access/groups", {"User.Modify", "Sys.Audit"}, true);
  auto enabled = ctx.opt_integer("enabled");
  const LockStates locks = auth.tfa_lock_states();
  Json out = Json::array();
  for (const auto& [userid, u] : cfg->users) {
    if (enabled && (*enabled != 0) != u.enable) continue;
    bool visible = audit_all || userid == ctx.who().user;
    for (const auto& g : u.groups) {
      visible = visible || ctx.allowed("/access/groups/" + g, {"User.Modify", "Sys.Audit"}, true);
    }
    if (visible) out.push_back(user_json(auth, userid, u, ctx.flag("full"), locks));
  }
  return out;
}

// Adds or replaces the user's group memberships (group lines hold them in user.cfg).
void set_groups(auth::UserConfig& cfg, const std::string& userid, const std::vector<std::string>& groups, bool append) {
  for (const auto& g : groups) {
    if (!cfg.groups.count(g)) throw Error::param("groups", "no such group '" + g + "'");
  }
  auto& user = cfg.users.at(userid);
  if (!append) {
    for (const auto& g : user.groups) {
      if (auto it = cfg.groups.find(g); it != cfg.groups.end()) it->second.users.erase(userid);
    }
    user.groups.clear();
  }
  for (const auto& g : groups) {
    cfg.groups[g].users.insert(userid);
    user.groups.insert(g);
  }
}

Json create_user(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  auto& auth = *ctx.services().auth;
  auto id = auth::split_userid(userid);
  if (!id) throw Error::param("userid", "value '" + userid + "' does not look like a valid user name");
  if (!auth.realms()->find(id->realm)) {
    throw Error::param("userid", "authentication domain '" + id->realm + "' does not exist");
  }
  if (ctx.has("password") && realm_type(auth, userid) != "pve" && realm_type(auth, userid) != "pam") {
    throw Error::param("password", "cannot set a password in a '" + realm_type(auth, userid) + "' realm");
  }
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
    cfg.users[userid] = std::move(u);
    set_groups(cfg, userid, id_list(ctx.opt_str("groups").value_or("")), true);
  });
  // A pam user's system password is not set here (PVE sets passwords of pve-realm users only at create).
  if (auto pw = ctx.opt_str("password"); pw && realm_type(auth, userid) == "pve") {
    try {
      auth.set_password(userid, *pw);
    } catch (...) {
      auth.remove_user(userid);  // no half-created user without the password that was asked for
      throw;
    }
  }
  return nullptr;
}

Json read_user(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  auto cfg = auth.user_config();
  std::string userid = ctx.str("userid");
  const auto& user = find_user(*cfg, userid);
  Json e = user_json(auth, userid, user, false);
  e.erase("userid");
  e.erase("realm-type");
  Json groups = Json::array();
  for (const auto& g : user.groups) groups.push_back(g);
  e["groups"] = groups;
  Json tokens = Json::object();
  for (const auto& [name, t] : user.tokens) tokens[name] = token_info(t);
  e["tokens"] = tokens;
  return e;
}

Json update_user(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  auto& auth = *ctx.services().auth;
  if (userid == "root@pam" && ctx.has("enable") && !ctx.flag("enable")) {
    throw Error::param("enable", "the root@pam user cannot be disabled");
  }
  if (userid == "root@pam" && ctx.integer_or("expire", 0) != 0) {
    throw Error::param("expire", "the root@pam user cannot expire");
  }
  auth.update_user_config([&](auth::UserConfig& cfg) {
    if (!cfg.users.count(userid)) throw Error("update user failed: no such user ('" + userid + "')", 500);
    auto& u = cfg.users[userid];
    if (ctx.has("enable")) u.enable = ctx.flag("enable");
    if (ctx.has("expire")) u.expire = ctx.integer("expire");
    if (auto v = ctx.opt_str("firstname")) u.firstname = *v;
    if (auto v = ctx.opt_str("lastname")) u.lastname = *v;
    if (auto v = ctx.opt_str("email")) u.email = *v;
    if (auto v = ctx.opt_str("comment")) u.comment = *v;
    if (auto v = ctx.opt_str("keys")) u.keys = *v;
    if (auto g = ctx.opt_str("groups")) set_groups(cfg, userid, id_list(*g), ctx.flag("append"));
  });
  return nullptr;
}

Json delete_user(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  auto& auth = *ctx.services().auth;
  find_user(*auth.user_config(), userid);
  auth.remove_user(userid);
  auth.remove_tfa_user(userid);
  return nullptr;
}

Json list_tokens(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json out = Json::array();
  for (const auto& [name, t] : find_user(*cfg, ctx.str("userid")).tokens) {
    Json e = token_info(t);
    e["tokenid"] = name;
    out.push_back(std::move(e));
  }
  return out;
}

const auth::TokenEntry& find_token(const auth::UserConfig& cfg, const std::string& userid, const std::string& tokenid) {
  find_user(cfg, userid);
  const auth::TokenEntry* t = cfg.token(userid + "!" + tokenid);
  if (!t) throw Error("no such token '" + tokenid + "' for user '" + userid + "'", 500);
  return *t;
}

Json read_token(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  return token_info(find_token(*cfg, ctx.str("userid"), ctx.str("tokenid")));
}

Json generate_token(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  std::string tokenid = ctx.str("tokenid");
  auto& auth = *ctx.services().auth;
  // As PVE: a token expires with its user unless told otherwise.
  std::int64_t expire = ctx.integer_or("expire", find_user(*auth.user_config(), userid).expire);
  std::string secret =
      auth.create_token(userid, tokenid, ctx.flag("privsep", true), expire, ctx.opt_str("comment").value_or(""));
  const auth::TokenEntry* t = auth.user_config()->token(userid + "!" + tokenid);
  return Json{{"full-tokenid", userid + "!" + tokenid}, {"info", t ? token_info(*t) : Json::object()}, {"value", secret}};
}

Json update_token(RequestContext& ctx) {
  std::string userid = ctx.str("userid");
  std::string tokenid = ctx.str("tokenid");
  auto& auth = *ctx.services().auth;
  auto deleted = id_list(ctx.opt_str("delete").value_or(""));
  for (const auto& key : deleted) {
    if (key != "comment" && key != "expire" && key != "privsep") {
      throw Error::param("delete", "cannot delete '" + key + "'");
    }
    if (ctx.has(key)) throw Error::param("delete", "cannot set and delete '" + key + "' at the same time");
  }
  auto has_deleted = [&](const char* k) { return std::find(deleted.begin(), deleted.end(), k) != deleted.end(); };
  auth.update_user_config([&](auth::UserConfig& cfg) {
    find_token(cfg, userid, tokenid);
    auto& t = cfg.users[userid].tokens[tokenid];
    if (ctx.has("comment")) t.comment = ctx.str("comment");
    if (ctx.has("expire")) t.expire = ctx.integer("expire");
    if (ctx.has("privsep")) t.privsep = ctx.flag("privsep");
    if (has_deleted("comment")) t.comment.clear();
    if (has_deleted("expire")) t.expire = 0;
    if (has_deleted("privsep")) t.privsep = true;
  });
  return token_info(find_token(*auth.user_config(), userid, tokenid));
}

Json remove_token(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  find_token(*auth.user_config(), ctx.str("userid"), ctx.str("tokenid"));
  auth.remove_token(ctx.str("userid"), ctx.str("tokenid"));
  return nullptr;
}

}  // namespace

void register_access_users(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/users", list_users, {{"pveum", "user list"}}));
  r.add(decl("POST /access/users", create_user, {{"pveum", "user add", {"userid"}}, {"pveum", "useradd", {"userid"}}}));
  r.add(decl("GET /access/users/{userid}", read_user));
  r.add(decl("PUT /access/users/{userid}", update_user,
             {{"pveum", "user modify", {"userid"}}, {"pveum", "usermod", {"userid"}}}));
  r.add(decl("DELETE /access/users/{userid}", delete_user,
             {{"pveum", "user delete", {"userid"}}, {"pveum", "userdel", {"userid"}}}));
  r.add(decl("GET /access/users/{userid}/token", list_tokens, {{"pveum", "user token list", {"userid"}}}));
  r.add(decl("GET /access/users/{userid}/token/{tokenid}", read_token));
  r.add(decl("POST /access/users/{userid}/token/{tokenid}", generate_token,
             {{"pveum", "user token add", {"userid", "tokenid"}}}));
  r.add(decl("PUT /access/users/{userid}/token/{tokenid}", update_token,
             {{"pveum", "user token modify", {"userid", "tokenid"}}}));
  r.add(decl("DELETE /access/users/{userid}/token/{tokenid}", remove_token,
             {{"pveum", "user token remove", {"userid", "tokenid"}}, {"pveum", "user token delete", {"userid", "tokenid"}}}));
}

}  // namespace pvx::api::handlers
