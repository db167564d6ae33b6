// /access/tfa (users' second factors: TOTP, WebAuthn, recovery keys), GET
// /access/users/{userid}/tfa and PUT /access/users/{userid}/unlock-tfa. Changing a user's factors
// asks for the caller's own password, as in PVE (root@pam excepted).
#include <ctime>

#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "auth/tfa_login.h"
#include "auth/user_config.h"

namespace pvx::api::handlers {
namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

cluster::ConfigStore& store(RequestContext& ctx) { return *ctx.services().store; }

Json list_all(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  const bool all = ctx.allowed("/access/groups", {"User.Modify", "Sys.Audit"}, true);
  return auth::tfa_list(store(ctx), [&](const std::string& userid) {
    if (all || userid == ctx.who().user) return true;
    const auth::UserEntry* u = cfg->user(userid);
    if (!u) return false;
    for (const auto& g : u->groups) {
      if (ctx.allowed("/access/groups/" + g, {"User.Modify", "Sys.Audit"}, true)) return true;
    }
    return false;
  });
}

Json list_user(RequestContext& ctx) {
  find_user(*ctx.services().auth->user_config(), ctx.str("userid"));
  return auth::tfa_list_user(store(ctx), ctx.str("userid"));
}

Json add_entry(RequestContext& ctx) {
  const std::string userid = reauth_for_user_modification(ctx, ctx.str("userid"), "password");
  auth::TfaAddRequest req{.type = ctx.str("type"),
                          .description = ctx.opt_str("description").value_or(""),
                          .totp = ctx.opt_str("totp"),
                          .value = ctx.opt_str("value"),
                          .challenge = ctx.opt_str("challenge")};
  return auth::tfa_add(store(ctx), userid, req, now());
}

Json get_entry(RequestContext& ctx) {
  find_user(*ctx.services().auth->user_config(), ctx.str("userid"));
  return auth::tfa_get_entry(store(ctx), ctx.str("userid"), ctx.str("id"));
}

Json update_entry(RequestContext& ctx) {
  const std::string userid = reauth_for_user_modification(ctx, ctx.str("userid"), "password");
  std::optional<bool> enable;
  if (ctx.has("enable")) enable = ctx.flag("enable");
  auth::tfa_update(store(ctx), userid, ctx.str("id"), ctx.opt_str("description"), enable);
  return nullptr;
}

Json delete_entry(RequestContext& ctx) {
  const std::string userid = reauth_for_user_modification(ctx, ctx.str("userid"), "password");
  auth::tfa_delete(store(ctx), userid, ctx.str("id"));
  return nullptr;
}

Json user_tfa_types(RequestContext& ctx) {
  const std::string userid = ctx.str("userid");
  find_user(*ctx.services().auth->user_config(), userid);
  auto realms = ctx.services().auth->realms();
  const auth::Realm* realm = realms->find(userid.substr(userid.rfind('@') + 1));
  return auth::tfa_user_types(store(ctx), userid, realm, ctx.flag("multiple"));
}

Json unlock(RequestContext& ctx) {
  find_user(*ctx.services().auth->user_config(), ctx.str("userid"));
  return auth::tfa_unlock(store(ctx), ctx.str("userid")) ? 1 : 0;
}

}  // namespace

void register_access_tfa(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/tfa", list_all));
  r.add(decl("GET /access/tfa/{userid}", list_user));
  r.add(decl("POST /access/tfa/{userid}", add_entry));
  r.add(decl("GET /access/tfa/{userid}/{id}", get_entry));
  r.add(decl("PUT /access/tfa/{userid}/{id}", update_entry));
  r.add(decl("DELETE /access/tfa/{userid}/{id}", delete_entry));
  r.add(decl("GET /access/users/{userid}/tfa", user_tfa_types));
  r.add(decl("PUT /access/users/{userid}/unlock-tfa", unlock));
}

}  // namespace pvx::api::handlers
