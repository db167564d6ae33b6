#pragma once
// Directory realms (ldap, ad) as AuthService uses them: the login check, the connection check of
// realm create/update, and the sync task of POST /access/domains/{realm}/sync.
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace pvx::auth {

class AuthService;
struct Realm;

struct RealmSyncRequest {
  std::string scope = "both";               // users, groups, both
  bool enable_new = true;                   // new users are enabled
  std::set<std::string> remove_vanished;    // acl, entry, properties
  bool dry_run = false;
};

// The call's parameters over the realm's `sync-defaults-options` (PVE's merge: parameters win).
// Throws Error 400 when no scope is given either way.
RealmSyncRequest sync_options(const Realm& realm, const nlohmann::json& params);

// Reads the directory and applies it to user.cfg (unless dry_run), logging what changes.
void run_realm_sync(AuthService& auth, const Realm& realm, const RealmSyncRequest& request,
                    const std::function<void(std::string_view)>& log);

// Binds with the realm's settings; throws Error naming the server and LDAP's reason.
void realm_check_connection(const Realm& realm, const std::optional<std::string>& bind_password);

// The password check of a login in an ldap or ad realm; false for wrong credentials.
bool realm_check_password(const Realm& realm, const std::optional<std::string>& bind_password,
                          const std::string& username, const std::string& password);

}  // namespace pvx::auth
