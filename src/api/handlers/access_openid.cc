// /access/openid: logins through an OpenID Connect provider (realms of type openid). The first
// call returns the provider's authorization URL; the browser comes back to the redirect URL with
// `state` and `code`, which the second call turns into a ticket. Users are created on first
// login when the realm says `autocreate`; the groups claim may place them in groups.
#include <ctime>

#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "auth/openid_client.h"
#include "auth/user_config.h"
#include "base/log.h"

namespace pvx::api::handlers {
namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

const auth::Realm& openid_realm(const auth::RealmList& list, const std::string& id) {
  const auth::Realm* r = list.find(id);
  if (!r) throw Error::param("realm", "authentication domain '" + id + "' does not exist");
  if (r->type != "openid") throw Error::param("realm", "realm '" + id + "' is not an openid realm");
  return *r;
}

Json auth_url(RequestContext& ctx) {
  auto realms = ctx.services().auth->realms();
  auto settings = auth::OpenIdSettings::from_realm(openid_realm(*realms, ctx.str("realm")));
  auth::OpenIdPending pending;
  std::string url = auth::openid_auth_url(settings, ctx.str("redirect-url"), pending, now());
  auth::openid_pending_put(pending);
  return url;
}

// Creates the user (autocreate) and applies the groups claim, in one user.cfg update.
void provision(auth::AuthService& auth, const auth::Realm& realm, const std::string& userid, const Json& claims,
               const std::vector<std::string>& groups) {
  const bool autocreate = realm.flag("autocreate", false);
  const bool groups_autocreate = realm.flag("groups-autocreate", false);
  const bool overwrite = realm.flag("groups-overwrite", false);
  auto cfg = auth.user_config();
  bool exists = cfg->user(userid) != nullptr;
  if (!exists && !autocreate) {
    log::warn("openid: user '" + userid + "' does not exist and realm '" + realm.id + "' does not autocreate");
    throw Error("authentication failure", 401);
  }
  bool need_groups = false;
  for (const auto& g : groups) {
    const auto* u = cfg->user(userid);
    need_groups = need_groups || !u || !u->groups.count(g);
  }
  if (exists && !need_groups && !overwrite) return;
  auth.update_user_config([&](auth::UserConfig& c) {
    auto [it, added] = c.users.try_emplace(userid);
    if (added) {
      auto text = [&](const char* k) { return claims.contains(k) && claims[k].is_string() ? claims[k].get<std::string>() : ""; };
      it->second.email = text("email");
      it->second.firstname = text("given_name");
      it->second.lastname = text("family_name");
      log::info("openid: created user " + userid);
    }
    if (overwrite) {
      for (const auto& g : it->second.groups) {
        if (auto gi = c.groups.find(g); gi != c.groups.end()) gi->second.users.erase(userid);
      }
      it->second.groups.clear();
    }
    for (const auto& g : groups) {
      if (!auth::is_valid_group_name(g)) continue;
      if (!c.groups.count(g)) {
        if (!groups_autocreate) continue;
        c.groups[g];
      }
      c.groups[g].users.insert(userid);
      it->second.groups.insert(g);
    }
  });
}

Json login(RequestContext& ctx) {
  auto& auth = *ctx.services().auth;
  auto pending = auth::openid_pending_take(ctx.str("state"), now());
  if (!pending) throw Error("invalid or expired openid state", 401);
  if (pending->redirect_url != ctx.str("redirect-url")) throw Error::param("redirect-url", "does not match the login's");
  auto realms = auth.realms();
  const auth::Realm& realm = openid_realm(*realms, pending->realm);
  auto settings = auth::OpenIdSettings::from_realm(realm);
  Json claims;
  std::string userid;
  try {
    claims = auth::openid_finish(settings, *pending, ctx.str("code"), now());
    userid = auth::openid_username(settings, claims) + "@" + realm.id;
  } catch (const Error& e) {
    log::warn(std::string("authentication failure; rhost=") + ctx.client() + " realm=" + realm.id + " msg=" + e.what());
    throw Error("authentication failure", 401);
  }
  provision(auth, realm, userid, claims, auth::openid_groups(settings, claims));
  auto result = auth.issue_login(userid);
  return Json{{"username", result.username},
              {"ticket", result.ticket},
              {"CSRFPreventionToken", result.csrf_token},
              {"cap", auth.capabilities(auth::Identity{.user = result.username})}};
}

}  // namespace

void register_access_openid(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/openid", [](RequestContext&) { return dir_index({"auth-url", "login"}); }));
  auto url = decl("POST /access/openid/auth-url", auth_url);
  url.blocking = true;
  r.add(std::move(url));
  auto in = decl("POST /access/openid/login", login);
  in.blocking = true;
  r.add(std::move(in));
}

}  // namespace pvx::api::handlers
