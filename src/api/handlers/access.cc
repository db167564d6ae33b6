// /access (index), /access/ticket (logins, the TFA step, ticket checks), /access/permissions and
// /access/password; registers the other access-control areas.
#include "api/handlers/access_common.h"
#include "api/handlers/register.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "base/strings.h"

namespace pvx::api::handlers {

const auth::UserEntry& find_user(const auth::UserConfig& cfg, const std::string& userid) {
  const auth::UserEntry* u = cfg.user(userid);
  if (!u) throw Error("no such user ('" + userid + "')", 500);
  return *u;
}

std::vector<std::string> id_list(std::string_view text) { return split_any(text, ",; \t\n"); }

std::string reauth_for_user_modification(RequestContext& ctx, const std::string& userid, const std::string& param) {
  auto& auth = *ctx.services().auth;
  find_user(*auth.user_config(), userid);
  const std::string& caller = ctx.who().user;
  if (userid == "root@pam" && caller != "root@pam") throw Error("Permission check failed", 403);
  if (caller == "root@pam") return userid;
  auto password = ctx.opt_str(param);
  if (!password) throw Error::param(param, "password is required to modify user");
  if (!auth.verify_password_only(caller, *password, ctx.client())) throw Error::param(param, "invalid credentials");
  return userid;
}

namespace {

Json create_ticket(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  std::string username = ctx.str("username");
  std::optional<std::string> realm = ctx.opt_str("realm");
  if (realm && username.find('@') == std::string::npos) username += "@" + *realm;
  if (ctx.has("path")) {
    // Verification mode: the password is a ticket; answer whether its user has `privs` on `path`.
    auto who = auth.verify_ticket(ctx.str("password"));
    if (!who || who->user != username) throw Error("authentication failure", 401);
    auto privs = split_any(ctx.str("privs"), ",; ");
    if (!auth.check(*who, ctx.str("path"), privs, false)) throw Error("permission check failed", 401);
    return Json{{"username", username}};
  }
  if (ctx.has("otp") && ctx.has("tfa-challenge")) {
    throw Error::param("otp", "TFA response should be in 'password', not 'otp' when 'tfa-challenge' is set");
  }
  auth::LoginRequest request{.username = username,
                             .password = ctx.str("password"),
                             .otp = ctx.opt_str("otp"),
                             .tfa_challenge = ctx.opt_str("tfa-challenge"),
                             .client = ctx.client()};
  auto login = auth.login(request);
  Json out = {{"username", login.username}, {"ticket", login.ticket}, {"CSRFPreventionToken", login.csrf_token}};
  if (login.need_tfa) {
    out["NeedTFA"] = 1;
  } else {
    out["cap"] = auth.capabilities(auth::Identity{.user = login.username});
  }
  return out;
}

Json permissions(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  auth::Identity target = ctx.who();
  if (auto userid = ctx.opt_str("userid")) {
    auto bang = userid->find('!');
    target = auth::Identity{.user = userid->substr(0, bang),
                            .token = bang == std::string::npos ? "" : userid->substr(bang + 1),
                            .privsep = bang != std::string::npos};
    bool own = target.user == ctx.who().user && (!ctx.who().is_token() || target.full() == ctx.who().full());
    if (!own) ctx.check("/access", {"Sys.Audit"});
  }
  return auth.permissions(target, ctx.opt_str("path"));
}

Json change_password(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  const std::string userid = reauth_for_user_modification(ctx, ctx.str("userid"), "confirmation-password");
  const std::string& caller = ctx.who().user;
  if (caller != "root@pam" && caller != userid) {
    // Only root changes root's password, and nobody else changes a system (pam) user's.
    if (userid == "root@pam" || userid.ends_with("@pam")) throw Error("Permission check failed", 403);
  }
  auth.set_password(userid, ctx.str("password"));
  return nullptr;
}

}  // namespace

void register_access(Router& r) {
  const ReferenceDeclarations decl(kAccessApiJson);
  r.add(decl("GET /access", [](RequestContext&) {
    return dir_index({"acl", "domains", "groups", "openid", "password", "permissions", "roles", "tfa", "ticket",
                      "users"});
  }));
  auto ticket_get = decl("GET /access/ticket", [](RequestContext&) { return Json(nullptr); });
  r.add(std::move(ticket_get));
  auto ticket = decl("POST /access/ticket", create_ticket);
  ticket.blocking = true;  // PAM and LDAP may take a while
  r.add(std::move(ticket));
  r.add(decl("GET /access/permissions", permissions));
  r.add(decl("PUT /access/password", change_password, {{"pveum", "passwd", {"userid"}}}));
  register_access_users(r, decl);
  register_access_groups(r, decl);
  register_access_roles(r, decl);
  register_access_acl(r, decl);
  register_access_domains(r, decl);
  register_access_tfa(r, decl);
  register_access_openid(r, decl);
  register_pools(r, decl);
}

}  // namespace pvx::api::handlers
