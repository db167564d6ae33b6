// /access/domains: authentication realms (domains.cfg) and the directory sync of ldap/ad realms.
// The realm list is readable without authentication: the login box needs it.
#include "api/handlers/access_common.h"
#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "auth/realm_sync.h"
#include "base/strings.h"
#include "cluster/config_store.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

// Parameters of the realm methods that are not realm keys.
bool is_call_param(const std::string& key) {
  return key == "realm" || key == "type" || key == "delete" || key == "digest" || key == "password" ||
         key == "check-connection";
}

Json list_realms(RequestContext& ctx) {
  Json out = Json::array();
  for (const auto& r : ctx.services().auth->realms()->realms) {
    Json e = {{"realm", r.id}, {"type", r.type}};
    if (auto c = r.get("comment"); c && !c->empty()) e["comment"] = *c;
    if (r.flag("default", false)) e["default"] = 1;
    if (auto tfa = r.get("tfa")) {
      // "type=oath,step=30" -> "oath"
      for (const auto& item : split_any(*tfa, ",")) {
        if (item.starts_with("type=")) e["tfa"] = item.substr(5);
        else if (item.find('=') == std::string::npos) e["tfa"] = item;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

const auth::Realm& find_realm(const auth::RealmList& list, const std::string& id) {
  const auth::Realm* r = list.find(id);
  if (!r) throw Error("domain '" + id + "' does not exist", 500);
  return *r;
}

// Per realm (PVE's is per file): a change to another realm does not fail this one's update.
std::string realm_digest(const auth::Realm& r) {
  return cluster::FileEntry{.data = auth::print_domains_cfg(auth::RealmList{{r}})}.digest();
}

Json read_realm(RequestContext& ctx) {
  auto list = ctx.services().auth->realms();
  const auto& r = find_realm(*list, ctx.str("realm"));
  Json out = {{"type", r.type}, {"digest", realm_digest(r)}};
  for (const auto& [k, v] : r.values) {
    // Booleans and numbers as PVE returns them (0/1 and integers), the rest as text.
    if (k == "port" && !v.empty() && std::all_of(v.begin(), v.end(), ::isdigit)) {
      out[k] = std::stoll(v);
    } else if (v == "0" || v == "1") {
      out[k] = v == "1" ? 1 : 0;
    } else {
      out[k] = v;
    }
  }
  return out;
}

// The realm keys a create/update call sets, checked against the type's keys.
std::map<std::string, std::string> realm_values(RequestContext& ctx, const std::string& type) {
  const auto* allowed = auth::realm_type_keys(type);
  if (!allowed) throw Error::param("type", "unknown realm type '" + type + "'");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : ctx.params().items()) {
    if (is_call_param(key)) continue;
    if (std::find(allowed->begin(), allowed->end(), key) == allowed->end()) {
      throw Error::param(key, "property is not defined for realms of type '" + type + "'");
    }
    out[key] = param_text(value);
  }
  if (ctx.has("password") && type != "ldap" && type != "ad") {
    throw Error::param("password", "property is not defined for realms of type '" + type + "'");
  }
  return out;
}

void check_required(const std::string& type, const std::map<std::string, std::string>& values) {
  auto need = [&](const char* key) {
    if (!values.count(key)) throw Error::param(key, "property is missing and it is not optional");
  };
  if (type == "ldap") {
    need("server1");
    need("base_dn");
    need("user_attr");
  } else if (type == "ad") {
    need("server1");
    need("domain");
  } else if (type == "openid") {
    need("issuer-url");
    need("client-id");
  }
}

// Only one realm may be the default one.
void apply_default(auth::RealmList& list, const std::string& id, const std::map<std::string, std::string>& values) {
  auto it = values.find("default");
  if (it == values.end() || it->second != "1") return;
  for (auto& r : list.realms) {
    if (r.id != id) r.values.erase("default");
  }
}

void check_connection(RequestContext& ctx, const auth::Realm& realm, const std::optional<std::string>& password) {
  if (!ctx.flag("check-connection") && !realm.flag("check-connection", false)) return;
  if (realm.type != "ldap" && realm.type != "ad") return;
  auth::realm_check_connection(realm, password);
}

Json create_realm(RequestContext& ctx) {
  const std::string id = ctx.str("realm");
  const std::string type = ctx.str("type");
  if (type == "pam" || type == "pve") throw Error::param("type", "cannot create a second '" + type + "' realm");
  auto values = realm_values(ctx, type);
  check_required(type, values);
  auto& auth = *ctx.services().auth;
  auth::Realm realm{type, id, {}};
  for (const auto& [k, v] : values) realm.values[k] = v;
  check_connection(ctx, realm, ctx.opt_str("password"));
  auth.update_realms([&](auth::RealmList& list) {
    if (list.find(id)) throw Error("domain '" + id + "' already exists", 500);
    apply_default(list, id, values);
    list.realms.push_back(realm);
  });
  if (auto pw = ctx.opt_str("password")) auth.set_realm_password(id, *pw);
  return nullptr;
}

Json update_realm(RequestContext& ctx) {
  const std::string id = ctx.str("realm");
  auto& auth = *ctx.services().auth;
  auto current = auth.realms();
  const auto& before = find_realm(*current, id);
  auto values = realm_values(ctx, before.type);
  auto deleted = id_list(ctx.opt_str("delete").value_or(""));
  const auto* allowed = auth::realm_type_keys(before.type);
  for (const auto& key : deleted) {
    if (std::find(allowed->begin(), allowed->end(), key) == allowed->end()) {
      throw Error::param("delete", "property '" + key + "' is not defined for realms of type '" + before.type + "'");
    }
    if (values.count(key)) throw Error::param("delete", "cannot set and delete '" + key + "' at the same time");
  }
  for (const auto& [key, value] : values) {
    if (auth::realm_key_fixed(before.type, key) && before.get(key) != value) {
      throw Error::param(key, "can't change fixed property");
    }
  }
  auth::Realm after = before;
  for (const auto& key : deleted) after.values.erase(key);
  for (const auto& [k, v] : values) after.values[k] = v;
  std::optional<std::string> password = ctx.opt_str("password");
  if (!password && std::find(deleted.begin(), deleted.end(), "password") == deleted.end()) {
    password = auth.realm_password(id);
  }
  check_connection(ctx, after, password);
  auth.update_realms([&](auth::RealmList& list) {
    auth::Realm* r = list.find(id);
    if (!r) throw Error("domain '" + id + "' does not exist", 500);
    if (auto digest = ctx.opt_str("digest"); digest && *digest != realm_digest(*r)) {
      throw Error("detected modified configuration - file changed by other user? Try again.", 500);
    }
    apply_default(list, id, values);
    r->values = after.values;
  });
  if (ctx.has("password")) auth.set_realm_password(id, ctx.str("password"));
  else if (std::find(deleted.begin(), deleted.end(), "password") != deleted.end()) auth.set_realm_password(id, std::nullopt);
  return nullptr;
}

Json delete_realm(RequestContext& ctx) {
  const std::string id = ctx.str("realm");
  auto& auth = *ctx.services().auth;
  auth.update_realms([&](auth::RealmList& list) {
    const auth::Realm& r = find_realm(list, id);
    if (r.type == "pam" || r.type == "pve") throw Error("cannot remove builtin realm '" + id + "'", 500);
    std::erase_if(list.realms, [&](const auth::Realm& x) { return x.id == id; });
  });
  auth.set_realm_password(id, std::nullopt);
  return nullptr;
}

Json sync_realm(RequestContext& ctx) {
  const std::string id = ctx.str("realm");
  auto& auth = *ctx.services().auth;
  auto list = auth.realms();
  const auth::Realm realm = find_realm(*list, id);
  if (realm.type != "ldap" && realm.type != "ad") {
    throw Error("Syncing is not supported for realms of type '" + realm.type + "'", 500);
  }
  auto options = auth::sync_options(realm, ctx.params());
  auto upid = ctx.services().tasks->spawn("auth-realm-sync" + std::string(options.dry_run ? "-test" : ""), id,
                                          ctx.who().full(), [&auth, realm, options](tasks::TaskContext& task) {
                                            auth::run_realm_sync(auth, realm, options,
                                                                 [&task](std::string_view line) { task.log(line); });
                                          });
  return upid.str();
}

}  // namespace

void register_access_domains(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /access/domains", list_realms, {{"pveum", "realm list"}}));
  r.add(decl("POST /access/domains", create_realm, {{"pveum", "realm add", {"realm"}}}));
  r.add(decl("GET /access/domains/{realm}", read_realm));
  r.add(decl("PUT /access/domains/{realm}", update_realm, {{"pveum", "realm modify", {"realm"}}}));
  r.add(decl("DELETE /access/domains/{realm}", delete_realm, {{"pveum", "realm delete", {"realm"}}}));
  r.add(decl("POST /access/domains/{realm}/sync", sync_realm, {{"pveum", "realm sync", {"realm"}}}));
}

}  // namespace pvx::api::handlers
